"""Integer shape arithmetic shared by every sliding-window layer, and shape formatting.

Shapes inside archcalc are tuples without the batch dimension, channels first:
(C, H, W) for feature maps and (F,) for vectors. Layouts only matter at the edges
(reading a spec's input, showing a shape back).
"""
from dataclasses import dataclass

from ..errors import LayerError
from ..i18n import N_, _


@dataclass(frozen=True)
class Notice:
    """A warning about one layer: what happens, and what would avoid it. `text` is both, as printed."""

    message: str
    hint: str = ""
    changes_result: bool = True    # False: a note (an uneven division that loses no input pixel)

    @property
    def text(self):
        return f"{self.message}. {self.hint}" if self.hint else self.message

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"
LAYOUTS = (CHANNELS_FIRST, CHANNELS_LAST)


@dataclass(frozen=True)
class Window:
    """One spatial axis of a sliding window: O = (N + P_before + P_after - D(F-1) - 1) / S + 1."""

    size: int          # N, the input size along this axis
    kernel: int        # F
    stride: int        # S
    pad_before: int
    pad_after: int
    dilation: int = 1
    ceil_mode: bool = False

    @property
    def effective_kernel(self):
        return self.dilation * (self.kernel - 1) + 1

    @property
    def span(self):
        """N - F_eff + P_total: the numerator of the output-size formula."""
        return self.size + self.pad_before + self.pad_after - self.effective_kernel

    @property
    def remainder(self):
        return self.span % self.stride

    @property
    def unrounded(self):
        """The output size before rounding, worked: "9/2 + 1 = 5.5"."""
        return f"{self.span}/{self.stride} + 1 = {self.span / self.stride + 1:g}"

    @property
    def output(self):
        """Output size exactly as PyTorch computes it (floor, or ceil with ceil_mode)."""
        if self.span < 0:
            raise LayerError(
                _("kernel {kernel} is larger than the padded input {padded} (input {size} + padding {padding})").format(
                    kernel=self.effective_kernel, padded=self.size + self.pad_before + self.pad_after, size=self.size,
                    padding=self.pad_before + self.pad_after),
                hint=_("use a smaller kernel, add padding, or feed a larger input"),
            )
        out = self.span // self.stride + 1
        if self.ceil_mode and self.remainder:
            out += 1
            # PyTorch drops a last window that would start entirely in the right padding.
            if (out - 1) * self.stride >= self.size + self.pad_before:
                out -= 1
        return out


def to_layout(shape, layout):
    if layout == CHANNELS_LAST and len(shape) > 1:
        return tuple(shape[1:]) + (shape[0],)
    return tuple(shape)


def from_layout(shape, layout):
    if layout == CHANNELS_LAST and len(shape) > 1:
        return (shape[-1],) + tuple(shape[:-1])
    return tuple(shape)


def numel(shape):
    total = 1
    for d in shape:
        total *= d
    return total


AXIS_NAMES = {1: (N_("length"),), 2: (N_("height"), N_("width")), 3: (N_("depth"), N_("height"), N_("width"))}


def channels_last(rank):
    """The memory order of a (C, *spatial) map stored channels last (torch.channels_last, or
    channels_last_3d): the spatial axes outermost, the channels innermost. Orders list a sample's axes
    from the outermost in memory to the innermost (the batch axis, always outermost, is not listed);
    None is the contiguous order 0, 1, ..."""
    return (*range(1, rank), 0)


def laid_out_as(shape, order, target):
    """Whether a dense tensor of `shape` stored in `order` is also stored in `target` (None: contiguous),
    as torch's is_contiguous(memory_format) decides: axes of size 1 have no say, so a (C, 1, 1) map is
    both contiguous and channels last."""
    def significant(axes):
        return [axis for axis in (range(len(shape)) if axes is None else axes) if shape[axis] != 1]
    return significant(order) == significant(target)


def runs_channels_last(shape, order):
    """Whether torch treats a (C, H, W) or (C, D, H, W) map stored in `order` as channels last
    (suggest_memory_format): stored channels last and not also contiguous (the ambiguous case, a map
    whose spatial axes are all 1 or whose only long axis is one, falls back to contiguous)."""
    return (len(shape) in (3, 4) and laid_out_as(shape, order, channels_last(len(shape)))
            and not laid_out_as(shape, order, None))


def axis_names(rank):
    """What the spatial axes of a rank-`rank` map are called: length; height, width; depth, height, width."""
    if rank in AXIS_NAMES:
        return tuple(_(name) for name in AXIS_NAMES[rank])
    return tuple(_("axis {i}").format(i=i) for i in range(1, rank + 1))


def window_warnings(windows):
    """Uneven-division Notices for the windows of one layer, one per spatial axis; one for all when they agree."""
    if all(w.remainder == 0 for w in windows):
        return []                          # nearly every layer: no axis to name
    names = axis_names(len(windows))
    if len(windows) > 1 and all(w == windows[0] for w in windows):
        notice = uneven_warning(_("{axes} and {last}").format(axes=", ".join(names[:-1]), last=names[-1]), windows[0])
        return [notice] if notice else []
    return [n for n in (uneven_warning(axis, w) for axis, w in zip(names, windows)) if n]


def uneven_warning(axis, window):
    """A Notice for a sliding window whose (N - F + P) is not a multiple of S, or None if it divides evenly."""
    if window.remainder == 0 or window.span < 0:
        return None
    w = window
    if w.pad_before == w.pad_after:
        pad_symbol, pad = "2P", f"2·{w.pad_before}"
    else:
        pad_symbol, pad = "P_before + P_after", f"{w.pad_before} + {w.pad_after}"
    kernel = str(w.kernel) if w.dilation == 1 else _("{effective} (dilated {kernel})").format(
        effective=w.effective_kernel, kernel=w.kernel)
    loses_pixels = w.ceil_mode or w.remainder > w.pad_after
    formula = f"(N − F + {pad_symbol})/S + 1 = ({w.size} − {kernel} + {pad})/{w.stride} + 1 = {w.unrounded}"
    return Notice(_("{axis}: {formula} is not an integer; {effect}").format(axis=axis, formula=formula,
                                                                             effect=uneven_effect(w)),
                  even_suggestion(w), loses_pixels)


def even_sizes(window):
    """The input sizes next to window.size (below, above) for which the window divides evenly."""
    w = window
    below, above = w.size - w.remainder, w.size + w.stride - w.remainder
    return [n for n in (below, above) if n - w.effective_kernel + w.pad_before + w.pad_after >= 0]


def uneven_consequence(window):
    """What PyTorch does with an uneven division, and the input sizes or padding that would divide evenly."""
    return _("{effect}. {suggestion}").format(effect=uneven_effect(window), suggestion=even_suggestion(window))


def uneven_effect(window):
    """What PyTorch does with an uneven division: round up, or down losing padding or input pixels."""
    w = window
    if w.ceil_mode:
        effect = _("PyTorch rounds up (ceil_mode) to {output}").format(output=w.output)
    elif w.remainder <= w.pad_after:
        effect = _("PyTorch rounds down to {output}; only padding is left over, no input pixel is lost").format(
            output=w.output)
    else:
        lost = w.remainder - w.pad_after
        effect = _("PyTorch rounds down to {output}; the last {lost} input position(s) are never seen").format(
            output=w.output, lost=lost)
    return effect


def even_suggestion(window):
    """The input sizes, or the symmetric padding, next to this window's that would divide evenly."""
    w = window
    suggestion = _("inputs that divide evenly: {sizes}").format(sizes=_(" or ").join(str(n) for n in even_sizes(w)))
    symmetric = _even_padding(w)
    if symmetric is not None and symmetric != w.pad_before:
        suggestion += _("; or padding {padding}").format(padding=symmetric)
    return suggestion


def _even_padding(w):
    """The smallest padding p >= pad_before with (N + 2p - F_eff) divisible by S, or None: solved as
    2d = -r (mod S) for d = p - pad_before, r = (N + 2·pad_before - F_eff) mod S, without a loop over S."""
    s = w.stride
    t = -(w.size + 2 * w.pad_before - w.effective_kernel) % s
    if s % 2:
        d = t * ((s + 1) // 2) % s      # (s + 1) / 2 is the inverse of 2 modulo an odd s
    elif t % 2:
        return None                     # 2d is even, and so is every multiple of an even s: no solution
    else:
        d = t // 2 % (s // 2)
    return w.pad_before + d
