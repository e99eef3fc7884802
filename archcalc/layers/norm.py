"""Normalisation: batch norm (2-D and 1-D by input rank) and AlexNet's local response norm."""
from .shapes import numel
from .counting import Rule, counted_as
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
    counting = counted_as(fvcore=_affine(1, "2 per input element (1 without affine); 5 in training mode"),
                          thop=_affine(2, "4 per input element (2 without affine)"),
                          ptflops=_affine(1, "2 per input element (1 without affine)"))
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

    def explain(self, ins, out):
        channels = ins[0][0]
        stats = (f"running mean and variance (2·C = {2 * channels:,}) are buffers, not trainable; "
                 "Keras lists them as non-trainable params")
        params = (Step("params", "2·C", f"2·{channels}", self.params(ins), f"γ and β per channel; {stats}")
                  if self.affine else self.no_params_step(f"no γ, β (affine: false); {stats}"))
        return [self.same_shape_step(out), params,
                Step("FLOPs", "2·elements", f"2·{dims(out)}", self.flops(ins, out),
                     "inference: statistics folded into one multiply and one add per element")]


@register
class LocalResponseNorm(Layer):
    """b = a / (k + α/n · Σ a²)^β over n neighbouring channels (AlexNet: n=5, α=1e-4, β=0.75, k=2)."""

    type_name = "lrn"
    aliases = ("localresponsenorm", "local_response_norm", "local_response_normalization")
    kind = Kind.NORM
    counting = counted_as(ptflops=Rule(_ptflops_lrn, "3 per element + the channel-padded map"))
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
        padded square), then t = k + α·pool, d = t^β (pow keeps t), x / d (div keeps x and d)."""
        if not any(grad.inputs):
            return []
        channels, *spatial = ins[0]
        padded = (channels + self.size - 1) * numel(spatial) * grad.batch
        every = numel(ins[0]) * grad.batch
        return [keep_input(ins, grad), Saved.new(padded), Saved.new(every), Saved.new(every)]

    def explain(self, ins, out):
        return [self.same_shape_step(out), self.no_params_step("no parameters: n, α, β and k are fixed"),
                Step("FLOPs", "(2n + 3)·elements", f"(2·{self.size} + 3)·{dims(out)}", self.flops(ins, out))]

    def workspace(self, ins, out, width):
        """F.local_response_norm's temporaries: x·x and its channel-padded copy (the first stands in for
        the output), then in `pool.mul(α).add(k)` the pooled map, α·pool and k + α·pool alive together."""
        channels, *spatial = ins[0]
        return max((channels + self.size - 1) * numel(spatial), 2 * numel(ins[0])) * width
