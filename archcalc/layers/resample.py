"""Changing the spatial size without weights: interpolation (`upsample`, any rank) and pixel shuffle
(sub-pixel convolution's rearrangement, and its inverse)."""
import math

from ..errors import LayerError, Unsupported
from ..i18n import N_, _
from .base import Kind, Layer, Option, Step, boolean, dims, number
from .counting import ZERO, Rule, counted_as
from .registry import register
from .shapes import numel

# n neighbours weighted and summed per output element; the mode's rank (None: any)
MODES = {"nearest": (1, None), "linear": (2, 1), "bilinear": (4, 2), "bicubic": (16, 2), "trilinear": (8, 3)}
THOP_PER_ELEMENT = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}   # thop's calculate_upsample
FVCORE_PER_ELEMENT = {("nearest", 2): 1, ("bilinear", 2): 4}              # aten::upsample_nearest2d / bilinear2d


def scale_or_sizes(value):
    """A positive number, or one per spatial axis."""
    one = number(minimum=0)
    if isinstance(value, (list, tuple)):
        parsed = tuple(one(v) for v in value)
    else:
        parsed = one(value)
    if any(v <= 0 for v in (parsed if isinstance(parsed, tuple) else (parsed,))):
        raise LayerError(_("expected a positive number or one per axis, got {value}").format(value=repr(value)))
    return parsed


scale_or_sizes.describe = N_("a positive number, or one per spatial axis")
scale_or_sizes.schema = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                                   {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}}]}


def mode_name(value):
    if not isinstance(value, str) or value.lower() not in MODES:
        raise LayerError(_("mode must be one of {modes}, got {value}").format(modes=', '.join(MODES), value=repr(value)))
    return value.lower()


mode_name.describe = " | ".join(MODES)
mode_name.schema = {"enum": list(MODES)}


def _ptflops_interpolate(layer, ins, out, batch):
    """nn.Upsample's module hook (output elements) plus the patched F.interpolate it calls (with `size`:
    the sizes times N·C; with a scale: input elements times scale^rank)."""
    functional = numel(out) if layer.size is not None else int(numel(ins[0]) * math.prod(layer.scales(ins[0])))
    return (numel(out) + functional) * batch


@register
class Upsample(Layer):
    """Nearest or (bi/tri)linear or bicubic interpolation to `size`, or by `scale` (floor(N·scale), as torch)."""

    type_name = "upsample"
    aliases = ("upsampling", "interpolate", "upsampling1d", "upsampling2d", "upsampling3d", "resize")
    kind = Kind.RESHAPE
    primary = "scale"
    options = {
        "scale": Option(scale_or_sizes, default=None, aliases=("scale_factor",), doc="output = floor(N·scale)"),
        "size": Option(scale_or_sizes, default=None, aliases=("output_size",), doc="output size per axis"),
        "mode": Option(mode_name, default="nearest", aliases=("interpolation",), doc=" | ".join(MODES)),
        "align_corners": Option(boolean, default=None, doc="linear modes: corners of input and output meet"),
    }
    counting = counted_as(
        thop=Rule(lambda l, i, o, b: THOP_PER_ELEMENT.get(l.mode, 0) * numel(o) * b,
                  N_("per output element: nearest 1, linear 5, bilinear 11, bicubic 259; trilinear 0 (not implemented)")),
        ptflops=Rule(_ptflops_interpolate, N_("output elements (module hook) + the patched F.interpolate's count")),
        fvcore=Rule(lambda l, i, o, b: FVCORE_PER_ELEMENT.get((l.mode, len(o) - 1), 0) * numel(o) * b,
                    N_("per output element: 1 nearest and 4 bilinear in 2-D; other modes and ranks 0 (no handle)")))
    torch_modules = ("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
    torch_functions = ("interpolate", "upsample")
    example = {"input": [3, 5, 5], "before": [{"conv2d": {"filters": 3, "kernel": 1}}],
               "options": {"scale": 2, "mode": "bilinear", "align_corners": False}}

    def scales(self, shape):
        rank = len(shape) - 1
        if self.scale is None:
            return tuple(o / n for o, n in zip(self.sizes(shape), shape[1:]))
        return self.scale if isinstance(self.scale, tuple) else (self.scale,) * rank

    def sizes(self, shape):
        rank = len(shape) - 1
        if (self.scale is None) == (self.size is None):
            raise LayerError(_("upsample needs exactly one of `scale` and `size`"),
                             hint=_("e.g. {example}").format(example="upsample: {scale: 2}"))
        if self.size is not None:
            sizes = self.size if isinstance(self.size, tuple) else (self.size,) * rank
            if any(s != int(s) for s in sizes):
                raise LayerError(_("size must be whole numbers, got {sizes}").format(sizes=list(sizes)))
            return tuple(int(s) for s in sizes)
        scales = self.scales(shape)
        if len(scales) != rank:
            raise LayerError(_("{count} scale factors for {rank} spatial axes").format(count=len(scales), rank=rank))
        return tuple(math.floor(n * s) for n, s in zip(shape[1:], scales))

    def output_shape(self, ins):
        shape = ins[0]
        if len(shape) < 2:
            raise LayerError(_("upsample needs a feature map (channels, *spatial), got a vector"),
                             hint=_("apply it before flatten/dense"))
        wanted = MODES[self.mode][1]
        if wanted is not None and wanted != len(shape) - 1:
            raise LayerError(_("mode '{mode}' interpolates {wanted}-D maps; the input has {rank} spatial axes").format(
                mode=self.mode, wanted=wanted, rank=len(shape) - 1),
                hint=_("linear is 1-D, bilinear and bicubic 2-D, trilinear 3-D"))
        if self.align_corners is not None and self.mode == "nearest":
            raise LayerError(_("align_corners applies to the linear and cubic modes only"),
                             hint=_("remove align_corners, or choose mode: bilinear"))
        return (shape[0],) + self.sizes(shape)

    def flops(self, ins, out):
        """n neighbours weighted and summed: 2n − 1 per output element; nearest copies (0)."""
        neighbours = MODES[self.mode][0]
        return 0 if neighbours == 1 else (2 * neighbours - 1) * numel(out)

    def receptive_step(self, ins):
        """An output reads a few inputs around the point it maps to: not a sliding window, so the field is
        not carried through (documented)."""
        return None

    def torch_module(self, ins):
        from torch import nn
        if self.size is not None:
            return nn.Upsample(size=self.sizes(ins[0]), mode=self.mode, align_corners=self.align_corners)
        return nn.Upsample(scale_factor=self.scale, mode=self.mode, align_corners=self.align_corners)

    @classmethod
    def from_torch_module(cls, m):
        if getattr(m, "recompute_scale_factor", None):
            raise Unsupported("recompute_scale_factor=True")
        given = {"mode": m.mode, "align_corners": m.align_corners}
        given["size" if m.size is not None else "scale"] = m.size if m.size is not None else m.scale_factor
        return {k: v for k, v in given.items() if v is not None and not (k == "mode" and v == "nearest")}

    @classmethod
    def from_torch_call(cls, call):
        size, scale = call.arg(1, "size"), call.arg(2, "scale_factor")
        mode, corners = call.arg(3, "mode", "nearest"), call.arg(4, "align_corners")
        if call.arg(5, "recompute_scale_factor"):
            raise Unsupported("recompute_scale_factor=True")
        given = {"size": list(size) if isinstance(size, (tuple, list)) else size,
                 "scale": list(scale) if isinstance(scale, (tuple, list)) else scale,
                 "mode": None if mode == "nearest" else mode, "align_corners": corners}
        return {k: v for k, v in given.items() if v is not None}, (0,)

    def explain(self, ins, out):
        neighbours = MODES[self.mode][0]
        if self.size is not None:
            size = Step("output", "C, size", "", out)
        else:
            size = Step("output", _("floor(N·scale) per axis"),
                        ", ".join(f"floor({n}·{s:g})" for n, s in zip(ins[0][1:], self.scales(ins[0]))), out)
        flops = (Step("FLOPs", "", "", 0, _("nearest copies the closest input: nothing is computed")) if neighbours == 1
                 else Step("FLOPs", "(2n − 1)·elements", f"(2·{neighbours} − 1)·{dims(out)}", self.flops(ins, out),
                           _("{mode}: n = {neighbours} neighbours weighted and summed").format(
                               mode=self.mode, neighbours=neighbours)))
        return [size, self.no_params_step(), flops]


# the explain notes of pixel_shuffle and pixel_unshuffle: their docstrings' first sentence, for the catalog
DOC_NOTES = (N_("(C·r², H, W) -> (C, H·r, W·r): each group of r² channels becomes an r×r block of pixels"),
             N_("(C, H·r, W·r) -> (C·r², H, W): each r×r block of pixels becomes r² channels"))


class _PixelShuffle(Layer):
    kind = Kind.RESHAPE
    primary = "factor"
    options = {"factor": Option(lambda v: _factor(v), required=True, aliases=("upscale_factor", "downscale_factor",
                                                                              "block_size"), doc="r")}
    counting = counted_as(ptflops=Rule(ZERO.count, "0: no hook for pixel shuffle"))
    example = {"input": [8, 3, 3], "before": [{"conv2d": {"filters": 8, "kernel": 1}}], "options": {"factor": 2}}

    @classmethod
    def from_torch_module(cls, m):
        return {"factor": getattr(m, "upscale_factor", None) or m.downscale_factor}

    def torch_module(self, ins):
        from torch import nn
        return getattr(nn, self.torch_modules[0])(self.factor)

    def explain(self, ins, out):
        return [Step("output", self.formula, "", out, _(self.__doc__.split(".")[0])), self.no_params_step(),
                Step("FLOPs", "", "", 0, _("a rearrangement: nothing is computed"))]


def _factor(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LayerError(_("expected an integer >= 1, got {value}").format(value=repr(value)))
    return value


_factor.describe = "integer >= 1"
_factor.schema = {"type": "integer", "minimum": 1}


@register
class PixelShuffle(_PixelShuffle):
    """(C·r², H, W) -> (C, H·r, W·r): each group of r² channels becomes an r×r block of pixels."""

    type_name = "pixel_shuffle"
    aliases = ("pixelshuffle", "depth_to_space")
    torch_modules = ("PixelShuffle",)
    formula = "(C/r², H·r, W·r)"

    def output_shape(self, ins):
        self.require_map(ins[0], self.type_name)
        channels, height, width = ins[0]
        r = self.factor
        if channels % (r * r):
            raise LayerError(_("pixel_shuffle by {r} needs channels divisible by r² = {square}, got {channels}").format(
                r=r, square=r * r, channels=channels),
                hint=_("give the layer before it a multiple of {square} filters").format(square=r * r))
        return (channels // (r * r), height * r, width * r)


@register
class PixelUnshuffle(_PixelShuffle):
    """(C, H·r, W·r) -> (C·r², H, W): each r×r block of pixels becomes r² channels."""

    type_name = "pixel_unshuffle"
    aliases = ("pixelunshuffle", "space_to_depth")
    torch_modules = ("PixelUnshuffle",)
    formula = "(C·r², H/r, W/r)"
    example = {"input": [2, 4, 4], "before": [{"conv2d": {"filters": 2, "kernel": 1}}], "options": {"factor": 2}}

    def output_shape(self, ins):
        self.require_map(ins[0], self.type_name)
        channels, height, width = ins[0]
        r = self.factor
        if height % r or width % r:
            raise LayerError(_("pixel_unshuffle by {r} needs height and width divisible by {r}, got {size}").format(
                r=r, size=f"{height}×{width}"), hint=_("pad or crop the map to a multiple of the factor"))

        return (channels * r * r, height // r, width // r)
