"""Model states per device when training is sharded across N devices: ZeRO stages 1, 2 and 3
(DeepSpeed) and PyTorch FSDP's FULL_SHARD and SHARD_GRAD_OP, beside plain data parallelism.

Plain data; render.sharding_report prints it. It reads the analyzer's Report (total and trainable
parameters, and the largest layer's parameters for the gathered-layer term): no second graph walk.

Bytes per parameter under mixed precision with Adam, as DeepSpeed's estimators count them
(`estimate_zero2_model_states_mem_needs`, `estimate_zero3_model_states_mem_needs` in
deepspeed/runtime/zero/): 2 (16-bit weights) + 2 (16-bit gradients) + 4 (the fp32 gradient partition
the optimizer steps with) + 4 (fp32 master weights) + 8 (Adam's two fp32 moments) = 20. ZeRO-1 shards
the last 16, ZeRO-2 the 16-bit gradients too (2 + 18/N), ZeRO-3 everything (18/N plus the 16-bit
weights, 2/N), and holds one gathered layer whole: 4 bytes (2 weight + 2 gradient) for each parameter
of the largest layer. The ZeRO paper (Rajbhandari et al. 2020) counts 16 bytes, without the fp32
gradient copy: `convention="zero-paper"` gives its 2 + 2 + 12 figures.

A device's figure divides the sharded bytes evenly and rounds down, as DeepSpeed does
(int(18·Ψ/N)); real partitions are padded to an alignment, so a device can hold a few bytes more.
Offload moves the sharded optimizer state (and with ZeRO-3 the weights) to host memory; the host
figure per node is DeepSpeed's estimate, with its 1.5 buffer factor. These are model states only:
activations, temporary buffers and the allocator's fragmentation come on top (`archcalc memory`).
"""
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from ..i18n import N_, _, ngettext
from .memory import OPTIMIZER_STATES
from ..errors import SpecError, require_choice

STRATEGIES = {
    "ddp": N_("plain data parallelism: every device holds everything (ZeRO stage 0)"),
    "zero1": N_("ZeRO stage 1: optimizer state (fp32 master, moments, fp32 gradients) sharded"),
    "zero2": N_("ZeRO stage 2: optimizer state and 16-bit gradients sharded"),
    "zero3": N_("ZeRO stage 3: optimizer state, gradients and 16-bit weights sharded; one layer gathered at a time"),
    "fsdp-grad-op": N_("FSDP SHARD_GRAD_OP: gradients and optimizer state sharded, 16-bit weights kept whole "
                       "from forward to backward"),
    "fsdp-full": N_("FSDP FULL_SHARD: everything sharded; one unit's weights gathered at a time"),

}
OFFLOADS = ("none", "optimizer", "optimizer+params")
CONVENTIONS = ("deepspeed", "zero-paper")
BUFFER_FACTOR = Fraction(3, 2)       # DeepSpeed's additional_buffer_factor default


@dataclass(frozen=True)
class Component:
    """One kind of model state on a device: `per_param` bytes for each of `params` parameters,
    held whole (sharded=False) or divided over the devices; `where` is "device" or "host"."""

    name: str
    per_param: int
    params: int
    sharded: bool
    where: str
    bytes: int
    rule: str
    counted: bool = True      # False: held, but left out of device_bytes by the convention (DeepSpeed's ZeRO-3)


@dataclass
class ShardReport:
    model: str
    strategy: str
    devices: int                  # N = nodes × devices per node
    nodes: int
    offload: str
    optimizer: str
    mixed_precision: bool
    convention: str
    zero_init: bool
    params: int
    trainable_params: int
    largest_layer: str
    largest_layer_params: int
    components: list = field(default_factory=list)
    device_bytes: int = 0         # model states on each device (GPU)
    host_bytes: int = None        # per node, DeepSpeed's estimate; None where DeepSpeed gives none
    host_rule: str = ""
    replicated_bytes: int = 0     # the same state without sharding, for comparison
    notes: list = field(default_factory=list)
    batch: int = None             # per-device batch, when activations were added (add_activations)
    activation_bytes: int = None  # saved for backward + input + output at the end of that batch's forward
    total_bytes: int = None       # device_bytes + activation_bytes: a lower bound of the device's peak
    budget: int = None
    fits: bool = None

    def to_dict(self):
        return asdict(self)


def largest_layer(report):
    """(name, params) of the layer with the most parameters: the one ZeRO-3 and FSDP gather whole."""
    if not report.layers:
        return "", 0
    top = max(report.layers, key=lambda r: r.params)
    return top.name, top.params


def _check(strategy, devices, nodes, offload, optimizer, convention):
    require_choice(strategy, STRATEGIES, _("unknown sharding strategy '{strategy}'").format(strategy=strategy))
    require_choice(offload, OFFLOADS, _("unknown offload '{offload}'").format(offload=offload))
    require_choice(optimizer, OPTIMIZER_STATES, _("unknown optimizer '{optimizer}'").format(optimizer=optimizer))
    require_choice(convention, CONVENTIONS, _("unknown convention '{convention}'").format(convention=convention))
    for name, value in (("devices", devices), ("nodes", nodes)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(_("{name} must be a whole number >= 1, got {value}").format(name=name, value=repr(value)))
    if devices % nodes:
        raise SpecError(_("{devices} devices do not divide evenly over {nodes} nodes").format(devices=devices,
                                                                                             nodes=nodes),
                        hint=_("give the total number of devices, a multiple of --nodes"))
    if offload == "optimizer+params" and strategy != "zero3":
        raise SpecError(_("offloading parameters needs ZeRO stage 3, not {strategy}").format(strategy=strategy),
                        hint=_("use --strategy zero3, or --offload optimizer"))
    if offload != "none" and strategy.startswith("fsdp"):
        raise SpecError(_("archcalc models offload for DeepSpeed's ZeRO only, not {strategy}").format(
            strategy=strategy), hint=_("use --strategy zero2 or zero3 with --offload, or --offload none"))
    if offload != "none" and strategy == "ddp":
        raise SpecError(_("plain data parallelism has nothing to offload"),
                        hint=_("use --strategy zero1, zero2 or zero3"))



def shard(report, *, strategy="zero2", devices=8, nodes=1, offload="none", optimizer="adam",
          mixed_precision=True, convention="deepspeed", zero_init=True):
    """A ShardReport for the analyzer's `report`: model-state bytes on each of `devices` devices
    (spread over `nodes` nodes) under `strategy` (see STRATEGIES). offload: "none", "optimizer"
    (ZeRO-Offload: optimizer state on the host) or "optimizer+params" (ZeRO-Infinity's CPU case, stage 3).
    mixed_precision=False trains in fp32: 4-byte weights and gradients, no master copy.
    zero_init matters only for DeepSpeed's host estimate under ZeRO-3 (deepspeed.zero.Init builds the
    model already partitioned). Bad input raises SpecError."""
    _check(strategy, devices, nodes, offload, optimizer, convention)
    total, trained = report.totals.params, report.totals.trainable_params
    name, largest = largest_layer(report)
    states = OPTIMIZER_STATES[optimizer]
    result = ShardReport(report.model, strategy, devices, nodes, offload, optimizer, mixed_precision, convention,
                         zero_init, total, trained, name, largest)
    weight = 2 if mixed_precision else 4
    bits = "16-bit" if mixed_precision else "fp32"
    stage = {"ddp": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp-grad-op": 2, "fsdp-full": 3}[strategy]
    moments = (N_("optimizer state"), 4 * states, trained, True,
               ngettext("{optimizer}: {states} fp32 value per parameter", "{optimizer}: {states} fp32 values per "
                        "parameter", states).format(optimizer=optimizer, states=states))
    if strategy.startswith("fsdp"):
        # FSDP keeps the sharded FlatParameter in fp32 (under mixed precision it is the master copy) and its
        # sharded gradient in fp32; 16-bit weights and gradients exist only while a unit is gathered.
        kinds = [(N_("fp32 weights (shard)"), 4, total, True, _("the sharded FlatParameter")),
                 (N_("fp32 gradients (shard)"), 4, trained, True, _("sharded gradients after the reduce-scatter"))]
        kinds += [moments] if states else []
        if strategy == "fsdp-grad-op":
            kinds.append((N_("weights, whole"), weight, total, False,
                          _("{bits} weights gathered in forward and kept until backward").format(bits=bits)))
            gathered = [(N_("largest unit's gradients"), weight,
                         _("{bits} gradients before their reduce-scatter").format(bits=bits))]
        else:
            gathered = [(N_("largest unit, gathered"), 2 * weight,
                         _("{bits} weights and gradients held whole").format(bits=bits))]
    else:
        kinds = [(N_("weights"), weight, total, stage >= 3, _("{bits} weights").format(bits=bits)),
                 (N_("gradients"), weight, trained, stage >= 2, _("{bits} gradients").format(bits=bits))]
        if mixed_precision and convention == "deepspeed":
            kinds.append((N_("fp32 gradients"), 4, trained, stage >= 1,
                          _("the fp32 gradient partition the optimizer steps with")))
        if mixed_precision:
            kinds.append((N_("fp32 master weights"), 4, trained, stage >= 1, _("fp32 copy the optimizer updates")))
        if states:
            kinds.append(moments[:3] + (stage >= 1,) + moments[4:])
        gathered = [(N_("largest layer, gathered"), 2 * weight,
                     _("{bits} weights and gradients held whole").format(bits=bits))] if stage == 3 else []
    on_host = {"none": set(), "optimizer": {"fp32 gradients", "fp32 master weights", "optimizer state"},
               "optimizer+params": {"fp32 gradients", "fp32 master weights", "optimizer state", "weights",
                                    "gradients"}}[offload]
    sharded_sum, replicated_sum = 0, 0
    for label, per_param, count, sharded, rule in kinds:
        # ZeRO-Offload streams each sharded 16-bit gradient to the host, where the optimizer steps
        where = "host" if label in on_host or (label == "gradients" and sharded and offload != "none") else "device"
        nbytes = per_param * count // devices if sharded else per_param * count
        rule = f"{per_param} × {count:,}" + (f" / {devices}" if sharded else "") + f": {rule}"
        # DeepSpeed's ZeRO-3 estimate without offload counts 18 bytes per parameter over N and leaves out
        # the 16-bit weight shard (2/N), which it does count under optimizer offload
        counted = not (convention == "deepspeed" and stage == 3 and offload == "none" and label == "weights"
                       and mixed_precision and not strategy.startswith("fsdp"))
        result.components.append(Component(label, per_param, count, sharded, where, nbytes, rule, counted))
        result.replicated_bytes += per_param * count
        if not counted:
            continue
        if where == "device" and sharded:
            sharded_sum += per_param * count
        elif where == "device":
            replicated_sum += per_param * count
    if offload == "optimizer+params":
        # ZeRO-Infinity keeps only the gathered layer on the device (DeepSpeed: gpu_mem = largest_layer_memory)
        sharded_sum = replicated_sum = 0
    held = 0
    for label, per_param, rule in gathered:
        held += per_param * largest
        result.components.append(Component(label, per_param, largest, False, "device", per_param * largest,
                                           f"{per_param} × {largest:,}: " + _("'{name}', {rule} while it runs").format(
                                               name=name, rule=rule)))
    # one rounding of the sharded sum, as DeepSpeed's int(18 * total_params / total_gpus)
    result.device_bytes = replicated_sum + sharded_sum // devices + held
    result.host_bytes, result.host_rule = _deepspeed_host(strategy, offload, zero_init, total, largest, devices,
                                                          nodes, mixed_precision, optimizer, convention)
    result.notes = _notes(result)
    return result


def _deepspeed_host(strategy, offload, zero_init, total, largest, devices, nodes, mixed_precision, optimizer,
                    convention):
    """DeepSpeed's estimate of host memory per node (its cpu_mem), for the cases its estimators cover:
    ZeRO-2 and ZeRO-3, mixed precision with Adam. Exact rationals, rounded down once, as int() does;
    DeepSpeed multiplies by the float 1/num_nodes, so with a node count that is not a power of two its
    figure can come out one byte lower."""
    if strategy not in ("zero2", "zero3") or not mixed_precision or optimizer not in ("adam", "adamw") \
            or convention != "deepspeed":
        return None, ""
    per_node = devices // nodes
    factor = BUFFER_FACTOR
    if strategy == "zero2":
        if offload == "optimizer":
            multiplier = max(4 * devices, 16)
            return int(total * multiplier * factor), (
                f"{total:,} × max(4 × {devices}, 16) × 1.5: " + _("the fp32 master, gradients and moments (16 bytes "
                "per parameter), or the fp32 model each process loads if larger, times DeepSpeed's buffer factor"))
        return int(total * 4 * per_node * factor), (
            f"{total:,} × 4 × {per_node} × 1.5: " + _("each of the node's {processes} processes loads the fp32 "
                                                       "model, times DeepSpeed's buffer factor").format(processes=per_node))
    share = Fraction(1, nodes)
    if offload == "none":
        if zero_init:
            return int(largest * 4 * per_node * factor), (
                f"{largest:,} × 4 × {per_node} × 1.5: " + _("with zero.Init each process builds one fp32 layer at a "
                                                            "time"))
        return int(total * 4 * per_node * factor), (
            f"{total:,} × 4 × {per_node} × 1.5: " + _("each process loads the fp32 model"))
    per_param = 18 if offload == "optimizer+params" else 16
    if zero_init:
        return int(total * per_param * share * factor), (
            f"{total:,} × {per_param} / {nodes} × 1.5: " + _("this node's share of the offloaded state"))
    multiplier = max(Fraction(4 * per_node), per_param * share)
    return int(total * multiplier * factor), (
        f"{total:,} × max(4 × {per_node}, {per_param} / {nodes}) × 1.5: " + _("the offloaded state, or the fp32 "
                                                                              "model each process loads if larger"))


# "weights" among the components is the tensors; the catalog's "weights" is the count the course calls 가중치 수
WEIGHT_TENSORS = N_("weights (the tensors)")


def component_text(name):
    """A component's name as shown in the active language ("weights" by its own message)."""
    if name == "weights":
        shown = _(WEIGHT_TENSORS)
        return name if shown == WEIGHT_TENSORS else shown
    return _(name)


def _notes(result):
    notes = [_("model states only: activations, communication buffers and fragmentation come on top "
               "(see `archcalc memory --mode training` for a device's activations)")]
    for c in result.components:
        if not c.counted:
            notes.append(_("each device also holds its {name} shard, {bytes} bytes ({rule}), "
                           "which DeepSpeed's ZeRO-3 estimator leaves out without offload (it counts it with "
                           "optimizer offload); --convention zero-paper counts it").format(
                               name=component_text(c.name), bytes=f"{c.bytes:,}", rule=c.rule.split(':')[0]))
    if result.trainable_params != result.params:
        notes.append(_("{frozen} frozen parameters: weights only, no gradients or optimizer state (DeepSpeed's "
                       "estimators assume every parameter trains)").format(
                           frozen=f"{result.params - result.trainable_params:,}"))
    if result.strategy.startswith("fsdp"):
        notes.append(_("FSDP: fp32 weight, gradient and optimizer shards, each layer its own unit; the shards and "
                       "SHARD_GRAD_OP's whole 16-bit weights are as PyTorch's fully_shard keeps them (checked on CPU "
                       "ranks); the gathered unit is this rule's estimate"))
    if result.host_bytes is None and result.offload != "none":
        notes.append(_("host memory is not estimated outside DeepSpeed's cases (ZeRO-2/3, mixed precision, Adam)"))
    return notes


def add_activations(result, spec, *, batch, budget=None, input_shape=None):
    """Add one device's activations to `result`: what it holds at the end of the forward pass of its
    own `batch` (everything saved for backward, the input and the output, from archcalc.memory at
    bf16 under mixed precision, else fp32), so total_bytes = model states + that, a lower bound of the
    device's peak (backward adds activation gradients). `budget` (bytes or '80GB') adds fits."""
    from .memory import memory
    from ..units import parse_bytes
    dtype = "bf16" if result.mixed_precision else "fp32"
    step = memory(spec, batch=batch, dtype=dtype, mode="training", optimizer=result.optimizer,
                  mixed_precision=result.mixed_precision, input_shape=input_shape)
    result.batch, result.activation_bytes = batch, step.forward_end_bytes
    result.total_bytes = result.device_bytes + step.forward_end_bytes
    if budget is not None:
        result.budget = budget if isinstance(budget, int) else parse_bytes(budget)
        result.fits = result.total_bytes <= result.budget
    return result


def compare_strategies(report, *, devices=8, nodes=1, optimizer="adam", mixed_precision=True,
                       convention="deepspeed"):
    """Every strategy without offload for the same report and devices, for a side-by-side table."""
    return [shard(report, strategy=s, devices=devices, nodes=nodes, optimizer=optimizer,
                  mixed_precision=mixed_precision, convention=convention) for s in STRATEGIES]


def offload_table(report, *, strategy="zero3", devices=8, nodes=1):
    """The rows DeepSpeed's `estimate_zero{2,3}_model_states_mem_needs_all_cold` prints, in its order:
    (offload, zero_init, host bytes per node, device bytes). zero_init is None for ZeRO-2."""
    if strategy == "zero2":
        cases = [("optimizer", None), ("none", None)]
    elif strategy == "zero3":
        cases = [(offload, zero_init) for offload in ("optimizer+params", "optimizer", "none")
                 for zero_init in (True, False)]
    else:
        raise SpecError(_("DeepSpeed's estimators cover zero2 and zero3, not {strategy}").format(strategy=strategy))
    rows = []
    for offload, zero_init in cases:
        result = shard(report, strategy=strategy, devices=devices, nodes=nodes, offload=offload,
                       zero_init=bool(zero_init))
        rows.append((offload, zero_init, result.host_bytes, result.device_bytes))
    return rows
