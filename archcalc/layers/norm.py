"""Normalisation: batch norm (2-D and 1-D by input rank) and AlexNet's local response norm."""
from .shapes import channels_last, laid_out_as, numel
from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .counting import ZERO, Rule, counted_as, either
from .registry import register
from .base import Kind, Layer, Option, Saved, Step, boolean, dims, integer, keep_input, number


def _affine(per_element, text):
    """Norm layers: `per_element` per input element, doubled when γ and β are learned."""
    return Rule(lambda l, i, o, b: per_element * numel(i[0]) * b * (2 if l.affine else 1), text)


def _ptflops_lrn(layer, ins, out, batch):
    """F.local_response_norm's patched calls: x.mul(x), avg_pool3d over the channel-padded map,
    .mul(alpha), .add(k)."""
    channels, *spatial = ins[0]
    return (3 * numel(ins[0]) + (channels + layer.size - 1) * numel(spatial)) * batch


@register
class BatchNorm(Layer):
    type_name = "batchnorm"
    aliases = ("batchnorm2d", "batchnorm1d", "batchnorm3d", "batch_norm", "batchnormalization", "batch_normalization", "bn")
    kind = Kind.NORM
    counting = counted_as(fvcore=_affine(1, N_("2 per input element (1 without affine); 5 in training mode")),
                          thop=_affine(2, N_("4 per input element (2 without affine)")),
                          ptflops=_affine(1, N_("2 per input element (1 without affine)")))
    torch_modules = ("BatchNorm2d", "BatchNorm1d", "BatchNorm3d")
    example = {"input": [3, 4, 4]}

    @classmethod
    def from_torch_module(cls, m):
        given = {"eps": m.eps, "affine": m.affine}
        if m.momentum is not None:
            given["momentum"] = m.momentum
        return cls.non_default(**given)
    options = {
        "eps": Option(number(minimum=0), default=1e-5, aliases=("epsilon",)),
        "momentum": Option(number(0, 1), default=0.1),
        "affine": Option(boolean, default=True, aliases=("scale",), doc="learn γ and β per channel"),
    }

    def param_tensors(self, ins):
        """γ and β per channel."""
        return (ins[0][0], ins[0][0]) if self.affine else ()

    def buffer_tensors(self, ins):
        """Running mean and variance per channel in the dtype, plus PyTorch's num_batches_tracked
        counter, always an int64 (8 bytes)."""
        return ((ins[0][0], None), (ins[0][0], None), (1, 8))

    def keras_non_trainable(self, ins):
        """Keras counts the moving mean and variance as non-trainable parameters."""
        return 2 * ins[0][0]

    def flops(self, ins, out):
        """Inference: one multiply and one add per element (statistics folded into scale and shift)."""
        return 2 * numel(out)

    def torch_module(self, ins):
        from torch import nn
        module = {1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d, 4: nn.BatchNorm3d}[len(ins[0])]
        return module(ins[0][0], eps=self.eps, momentum=self.momentum, affine=self.affine)

    def saved_tensors(self, ins, out, grad):
        """The input plus this batch's mean and inverse standard deviation (C each, not per sample)."""
        if not grad.active:
            return []
        return [keep_input(ins, grad), Saved.new(ins[0][0]), Saved.new(ins[0][0])]

    def backward_workspace(self, ins, out, width, grad=None):
        """On CPU, native_batch_norm_backward (batch_norm_backward_cpu_template in
        aten/src/ATen/native/Normalization.cpp) allocates the input's gradient, then γ's and β's, and on
        its fast path (input and output gradient laid out alike) allocates the input's gradient again,
        the first being freed only as the second replaces it: one input-sized tensor more than the
        gradients, at that moment. Measured with the CPU profiler: test_batchnorm_backward."""
        if grad is None or grad.device != "cpu" or not grad.inputs[0]:
            return 0
        return numel(ins[0]) * width if laid_out_as(ins[0], grad.order(0), grad.grad_order) else 0

    def explain(self, ins, out):
        channels = ins[0][0]
        stats = _("running mean and variance (2·C = {count}) are buffers, not trainable; "
                  "Keras lists them as non-trainable params").format(count=f"{2 * channels:,}")
        params = (Step("params", "2·C", f"2·{channels}", self.params(ins),
                       _("γ and β per channel; {statistics}").format(statistics=stats))
                  if self.affine else self.no_params_step(_("no γ, β (affine: false); {statistics}").format(
                      statistics=stats)))
        return [self.same_shape_step(out), params,
                Step("FLOPs", "2·" + _("elements"), f"2·{dims(out)}", self.flops(ins, out),
                     _("inference: statistics folded into one multiply and one add per element"))]

    keras_classes = ("BatchNormalization",)

    def keras_layer(self, plan, node, ins, inputs):
        """BatchNormalization: Keras's momentum is 1 − torch's; its epsilon defaults to 1e-3."""
        kwargs = {}
        if self.opts.get("eps", 1e-5) != 1e-3:
            kwargs["epsilon"] = self.opts.get("eps", 1e-5)
        kwargs["momentum"] = round(1 - self.opts.get("momentum", 0.1), 12)   # Keras's momentum is 1 − torch's
        if not self.opts.get("affine", True):
            kwargs.update(center=False, scale=False)
        plan.emit("BatchNormalization", inputs, **kwargs)

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        if layer.axis not in (-1, len(shape)):
            raise Unsupported(f"axis={layer.axis}; archcalc normalizes over channels")
        if layer.center != layer.scale:
            raise Unsupported("center and scale set differently")
        options = {"eps": float(layer.epsilon), "momentum": round(1 - float(layer.momentum), 12)}
        if not layer.scale:
            options["affine"] = False
        return cls.type_name, options


@register
class LocalResponseNorm(Layer):
    """b = a / (k + α/n · Σ a²)^β over n neighbouring channels (AlexNet: n=5, α=1e-4, β=0.75, k=2)."""

    type_name = "lrn"
    aliases = ("localresponsenorm", "local_response_norm", "local_response_normalization")
    kind = Kind.NORM
    counting = counted_as(ptflops=Rule(_ptflops_lrn, N_("3 per element + the channel-padded map")))
    torch_modules = ("LocalResponseNorm",)
    example = {"input": [6, 4, 4], "options": {"size": 3}}

    @classmethod
    def from_torch_module(cls, m):
        return {"size": m.size, "alpha": m.alpha, "beta": m.beta, "k": m.k}
    options = {
        "size": Option(integer(1), default=5, aliases=("depth_radius",), doc="n, channels summed"),
        "alpha": Option(number(minimum=0), default=1e-4),
        "beta": Option(number(minimum=0), default=0.75),
        "k": Option(number(minimum=0), default=1.0, aliases=("bias",)),
    }

    def flops(self, ins, out):
        """Per element: n squares, n − 1 additions, then scale, add k, power and divide (2n + 3)."""
        return numel(out) * (2 * self.size + 3)

    def torch_module(self, ins):
        from torch import nn
        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)

    def saved_tensors(self, ins, out, grad):
        """torch composes it: x·x, padded to C + n − 1 channels and average-pooled (the pool keeps that
        padded square), then t = k + α·pool, d = t^β (pow keeps t), x / d (div keeps x and d). And
        `.mul(alpha)` (F.local_response_norm in torch/nn/functional.py) wraps the Python float α as a
        0-dim float64 tensor that mul's backward keeps (derivatives.yaml: self's gradient is grad · other):
        8 bytes, alive until that node runs, which saved_tensors_hooks never see (Saved.hooked). A wrapped
        number is made on the CPU whatever the device, so `--device cuda` leaves it out (from torch's
        source; not measured on a GPU)."""
        if not any(grad.inputs):
            return []
        channels, *spatial = ins[0]
        padded = (channels + self.size - 1) * numel(spatial) * grad.batch
        every = numel(ins[0]) * grad.batch
        alpha = [Saved(1, 8, hooked=False)] if grad.device == "cpu" else []
        return [keep_input(ins, grad), Saved.new(padded), Saved.new(every), Saved.new(every), *alpha]

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step(_("no parameters: n, α, β and k are fixed")),
                Step("FLOPs", _("(2n + 3)·elements"), f"(2·{self.size} + 3)·{dims(out)}", self.flops(ins, out))]

    def workspace(self, ins, out, width):
        """F.local_response_norm's temporaries: x·x and its channel-padded copy (the first stands in for
        the output), then in `pool.mul(α).add(k)` the pooled map, α·pool and k + α·pool alive together."""
        channels, *spatial = ins[0]
        return max((channels + self.size - 1) * numel(spatial), 2 * numel(ins[0])) * width

    def backward_workspace(self, ins, out, width, grad=None):
        """The worst moment of its backward is in its first node, x / d's (DivBackward0), while every
        tensor it saved is still alive, as the memory model assumes for a layer's step. The node makes d's
        gradient first: div_tensor_other_backward (torch/csrc/autograd/FunctionsManual.cpp) is
        -grad · ((x / d) / d), whose x / d, (x / d) / d and -grad are freed once their product, d's
        gradient, exists; only then is x's, grad / d (div_tensor_self_backward), made. At the product four
        input-sized maps are alive beside the output's gradient: the model's step counts one as the
        input's gradient, the other three are this workspace. Later nodes hold less (pow's, x·x's), except
        the average pool's when the channel-padded map outgrows five input maps (n − 1 > 4·C): by then d,
        t and the output's gradient are gone, and beside x's gradient, the pool's output gradient (an input
        map) and what is still saved, the pool makes its padded input's gradient, (C + n − 1)·H·W, so
        (n − 1 − C)·H·W above the step; the α the step still holds (saved_tensors) was freed before it, so
        there the model is 8 bytes over. CPU profiler, allocation by allocation (test_lrn_memory.py); the
        per-op walk (tests/measured.cpu_peak) counts one map more at x / d's node, since it applies the
        three frees, which the node makes between two of its child ops, only at the node's end."""
        if grad is None or not any(grad.inputs):
            return 0
        channels, *spatial = ins[0]
        return max(3 * channels, self.size - 1 - channels) * numel(spatial) * width

    keras_classes = ("LocalResponseNorm",)     # archcalc's own Keras layer (bridges/keras_model.py), which Keras lacks

    def keras_layer(self, plan, node, ins, inputs):
        plan.emit("LocalResponseNorm", inputs, custom=True, **{k: self.opts[k] for k in ("size", "alpha", "beta", "k")})

    @classmethod
    def from_keras_layer(cls, reader, layer, shape, pending):
        return cls.type_name, {"size": layer.size, "alpha": layer.alpha, "beta": layer.beta, "k": layer.k}


# ---- the normalisations of transformers and modern CNNs: statistics per sample, never running buffers

def _per_element(factor, text, affine_factor=None):
    """`factor` per input element, or `affine_factor` when the layer learns γ (and β)."""
    def count(layer, ins, out, batch):
        per = affine_factor if affine_factor is not None and layer.affine else factor
        return per * numel(ins[0]) * batch
    return Rule(count, text)


def _unless_channels_first(rule, reason):
    """A tool that hooks nn.LayerNorm: torchvision's LayerNorm2d (channels_first) is a subclass it does not know."""
    return either(lambda layer: layer.channels_first, rule, Rule(ZERO.count, reason), N_("; channels_first: "))


class _SampleNorm(Layer):
    """Normalise with statistics of each sample: (x − mean)/√(var + ε), then γ·x̂ + β when affine.
    archcalc counts 5 FLOPs per element to normalise (mean: 1 add; subtract; square and add for the
    variance; scale by 1/σ) and 2 more for γ and β."""

    kind = Kind.NORM
    normalise_flops = 5

    def affine_tensors(self, features):
        if not self.affine:
            return ()
        return (features, features) if self.opts.get("bias", True) else (features,)

    def flops(self, ins, out):
        return (self.normalise_flops + len(self.param_tensors(ins))) * numel(out)

    def saved_tensors(self, ins, out, grad):
        """The input, and this sample's mean and 1/σ per normalised group (fp32 statistics)."""
        if not grad.active:
            return []
        groups = self.groups_per_sample(ins) * grad.batch
        return [keep_input(ins, grad), Saved.new(groups), Saved.new(groups)]

    def explain(self, ins, out):
        tensors = self.param_tensors(ins)
        params = (Step("params", " + ".join(["γ", "β"][:len(tensors)]), " + ".join(map(str, tensors)),
                       self.params(ins)) if tensors else self.no_params_step(_("no γ, β (affine: false)")))
        per = self.normalise_flops + len(tensors)
        return [self.same_shape_step(out), params,
                Step("FLOPs", f"{per}·elements", f"{per}·{dims(out)}", self.flops(ins, out),
                     _("{count} to normalise").format(count=self.normalise_flops)
                     + (", " + _("{count} for γ, β").format(count=len(tensors)) if tensors else ""))]


@register
class LayerNorm(_SampleNorm):
    """Over the last `axes` axes of each sample (features of a sequence); `channels_first: true` normalises
    the channels of a (C, *spatial) map at each position, as torchvision's ConvNeXt does."""

    type_name = "layernorm"
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ("layer_norm", "layernormalization", "layer_normalization", "ln")
    counting = counted_as(fvcore=_per_element(4, N_("aten::layer_norm: 5 per element (4 without affine)"), 5),
                          thop=_unless_channels_first(
                              _per_element(2, N_("4 per element (2 without elementwise_affine)"), 4),
                              N_("0 (torchvision's LayerNorm2d is not nn.LayerNorm)")),
                          ptflops=_unless_channels_first(
                              _per_element(1, N_("1 per element (its hook reads `affine`, which LayerNorm lacks)")),
                              N_("0 (torchvision's LayerNorm2d is not nn.LayerNorm, and F.layer_norm is not "
                                 "patched)")))
    # torchvision's ConvNeXt LayerNorm2d: an nn.LayerNorm over the channels of an (N, C, H, W) map
    torch_modules = ("LayerNorm", "LayerNormChannelsFirst", "torchvision.models.convnext:LayerNorm2d")
    torch_functions = ("layer_norm",)
    options = {
        "eps": Option(number(minimum=0), default=1e-5, aliases=("epsilon", "layer_norm_eps")),
        "affine": Option(boolean, default=True, aliases=("elementwise_affine", "scale"), doc="learn γ (and β)"),
        "bias": Option(boolean, default=True, aliases=("center",), doc="learn β"),
        "axes": Option(integer(1), default=1, doc="how many trailing axes are normalised"),
        "channels_first": Option(boolean, default=False, doc="normalise axis 0 (channels) of a map"),
    }

    @classmethod
    def from_torch_module(cls, m):
        from torch import nn
        channels_first = not isinstance(m, nn.LayerNorm) or type(m).__name__ == "LayerNorm2d"
        norm = getattr(m, "norm", m)
        given = {"eps": norm.eps, "affine": norm.elementwise_affine, "axes": len(norm.normalized_shape),
                 "channels_first": channels_first}
        if norm.elementwise_affine:
            given["bias"] = norm.bias is not None
        return cls.non_default(**given)

    @classmethod
    def from_torch_call(cls, call):
        shape = call.arg(1, "normalized_shape")
        return {**cls.non_default(eps=call.arg(4, "eps", 1e-5), axes=len(shape)),
                **({} if call.arg(2, "weight") is not None else {"affine": False})}, (0,)

    def normalized(self, ins):
        shape = ins[0]
        if self.channels_first:
            return (shape[0],)
        if self.axes > len(shape):
            raise LayerError(_("layernorm over {axes} axes, but the input {shape} has {rank}").format(
                axes=self.axes, shape=tuple(shape), rank=len(shape)),
                hint=_("axes counts the trailing axes normalised together; 1 = features"))
        return tuple(shape[-self.axes:])

    def groups_per_sample(self, ins):
        return numel(ins[0]) // numel(self.normalized(ins))

    def param_tensors(self, ins):
        return self.affine_tensors(numel(self.normalized(ins)))

    def torch_module(self, ins):
        from torch import nn
        if self.channels_first:
            from .torch_modules import LayerNormChannelsFirst
            return LayerNormChannelsFirst(ins[0][0], self.eps, self.affine, self.bias)
        return nn.LayerNorm(self.normalized(ins), eps=self.eps, elementwise_affine=self.affine, bias=self.bias)

    def output_order(self, ins, out, width, grad):
        """F.layer_norm writes a contiguous output (native_layer_norm normalises a contiguous copy of its
        input); `channels_first` (torchvision's LayerNorm2d) normalises the map moved channels last and
        moves the result back, a view: its output, and the gradient its backward hands the input (the
        same permutation of layer_norm's contiguous gradient), are stored channels last."""
        return channels_last(len(out)) if self.channels_first and len(out) > 1 else None

    def input_grad_orders(self, ins, out, width, grad):
        return (self.output_order(ins, out, width, grad),)


@register
class RMSNorm(_SampleNorm):
    """x / √(mean(x²) + ε) · γ over the last axis (LLaMA); 4 FLOPs per element (square, add, the mean's
    division folded into the scale, multiply) plus 1 for γ."""

    type_name = "rmsnorm"
    example = {"input": [5, 8], "before": [{"dense": 8}]}
    aliases = ("rms_norm",)
    counting = counted_as(fvcore=Rule(ZERO.count, "0: no handle for aten::rms_norm"),
                          thop=Rule(ZERO.count, "0: no hook for nn.RMSNorm"),
                          ptflops=Rule(ZERO.count, "0: no hook for nn.RMSNorm"))
    torch_modules = ("RMSNorm",)
    torch_functions = ("rms_norm",)
    normalise_flops = 4
    options = {
        "eps": Option(number(minimum=0), default=None, aliases=("epsilon",),
                      doc="default: torch's, the dtype's machine epsilon"),
        "affine": Option(boolean, default=True, aliases=("elementwise_affine",), doc="learn γ"),
    }

    @classmethod
    def from_torch_module(cls, m):
        if len(m.normalized_shape) != 1:
            raise Unsupported("RMSNorm over more than the last axis")
        return cls.non_default(eps=m.eps, affine=m.elementwise_affine)

    def param_tensors(self, ins):
        return (ins[0][-1],) if self.affine else ()

    def groups_per_sample(self, ins):
        return numel(ins[0]) // ins[0][-1]

    def saved_tensors(self, ins, out, grad):
        """torch composes it on CPU: the input and 1/rms per row, and with γ the normalised x for γ's
        gradient."""
        if not grad.active:
            return []
        saved = [keep_input(ins, grad), Saved.new(self.groups_per_sample(ins) * grad.batch)]
        return saved + ([Saved.new(numel(ins[0]) * grad.batch)] if self.affine else [])

    def torch_module(self, ins):
        from torch import nn
        return nn.RMSNorm(ins[0][-1], eps=self.eps, elementwise_affine=self.affine)


@register
class GroupNorm(_SampleNorm):
    """Over groups of channels of each sample (and all positions); γ and β per channel."""

    type_name = "groupnorm"
    example = {"input": [4, 3, 3], "before": [{"conv2d": {"filters": 4, "kernel": 1}}], "options": {"groups": 2}}
    aliases = ("group_norm", "groupnormalization")
    counting = counted_as(fvcore=_per_element(4, N_("aten::group_norm: 5 per element (4 without affine)"), 5),
                          thop=Rule(ZERO.count, "0: no hook for nn.GroupNorm"),
                          ptflops=_per_element(1, N_("2 per element (1 without affine)"), 2))
    torch_modules = ("GroupNorm",)
    torch_functions = ("group_norm",)
    primary = "groups"
    options = {
        "groups": Option(integer(1), required=True, aliases=("num_groups",)),
        "eps": Option(number(minimum=0), default=1e-5, aliases=("epsilon",)),
        "affine": Option(boolean, default=True),
    }

    @classmethod
    def from_torch_module(cls, m):
        return {"groups": m.num_groups, **cls.non_default(eps=m.eps, affine=m.affine)}

    def output_shape(self, ins):
        if ins[0][0] % self.groups:
            raise LayerError(_("groupnorm: {channels} channels do not split into {groups} groups").format(
                channels=ins[0][0], groups=self.groups), hint=_("choose groups dividing {channels}").format(
                    channels=ins[0][0]))
        return ins[0]

    def param_tensors(self, ins):
        return self.affine_tensors(ins[0][0])

    def groups_per_sample(self, ins):
        return self.groups

    def torch_module(self, ins):
        from torch import nn
        return nn.GroupNorm(self.groups, ins[0][0], eps=self.eps, affine=self.affine)


@register
class InstanceNorm(_SampleNorm):
    """Over the positions of each channel of each sample; torch's default keeps no γ, β and no running
    statistics (affine: false)."""

    type_name = "instancenorm"
    example = {"input": [4, 3, 3], "before": [{"conv2d": {"filters": 4, "kernel": 1}}], "options": {"affine": True}}
    aliases = ("instance_norm", "instancenorm1d", "instancenorm2d", "instancenorm3d")
    counting = counted_as(fvcore=_per_element(4, N_("aten::instance_norm: 4 per element (5 with affine)"), 5),
                          thop=_per_element(2, N_("2 per element (4 with affine)"), 4),
                          ptflops=_per_element(1, N_("1 per element (2 with affine)"), 2))
    torch_modules = ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")
    torch_functions = ("instance_norm",)
    options = {
        "eps": Option(number(minimum=0), default=1e-5, aliases=("epsilon",)),
        "affine": Option(boolean, default=False),
    }

    @classmethod
    def from_torch_module(cls, m):
        if m.track_running_stats:
            raise Unsupported("InstanceNorm with track_running_stats=True")
        return cls.non_default(eps=m.eps, affine=m.affine)

    def output_shape(self, ins):
        if len(ins[0]) < 2:
            raise LayerError(_("instancenorm needs (channels, positions...), got {shape}").format(shape=tuple(ins[0])),
                             hint=_("apply it to a signal, image or volume"))

        return ins[0]

    def param_tensors(self, ins):
        return self.affine_tensors(ins[0][0])

    def groups_per_sample(self, ins):
        return ins[0][0]

    def saved_tensors(self, ins, out, grad):
        """As the other per-sample norms, and with affine the γ that F.instance_norm repeats once per sample
        (N·C values, a new tensor) to run batch norm over the (1, N·C, ...) view (measured with
        saved_tensors_hooks)."""
        saved = super().saved_tensors(ins, out, grad)
        return saved + [Saved.new(ins[0][0] * grad.batch)] if saved and self.affine else saved

    def torch_module(self, ins):
        from torch import nn
        module = {2: nn.InstanceNorm1d, 3: nn.InstanceNorm2d, 4: nn.InstanceNorm3d}[len(ins[0])]
        return module(ins[0][0], eps=self.eps, affine=self.affine)
