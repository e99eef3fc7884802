"""The sentences `check`'s diagnoses are made of, each whole so that it translates as one (archcalc.i18n):
the readings of an abbreviated number, the bias sums, the places of a slipped digit. The answer labels
and the partial credits' names belong to their renderer (report.homework.LABELS, CREDITS)."""
from ..i18n import N_

BIAS_SUMS = {  # (left out or counted, of every layer or of one kind): whole sentences, to translate as one
    ("left out in", True): N_("bias left out in every one of the {count} layers ({names}): − {sum}"),
    ("left out in", False): N_("bias left out in every one of the {count} {kind} layers ({names}): − {sum}"),
    ("counted in", True): N_("bias counted in every one of the {count} layers that have none (bias: false) "
                             "({names}): + {sum}"),
    ("counted in", False): N_("bias counted in every one of the {count} {kind} layers that have none "
                              "(bias: false) ({names}): + {sum}"),
}


PREFIX_POWERS = {"k": "1,024", "thousand": "1,024", "m": "1,024²", "million": "1,024²", "g": "1,024³",
                 "b": "1,024³", "billion": "1,024³", "t": "1,024⁴"}


# Every sentence a reading of a number can give, whole, so that each can be translated as one.
READINGS = {
    "rounded down": N_("{given} is {truth} rounded down; rounded it is {rounded}"),
    "rounded up": N_("{given} is {truth} rounded up; rounded it is {rounded}"),
    "binary": N_("K = 1024: {given} read with binary prefixes ({prefix} = {power}) is {value}, which matches "
              "{truth} to the digits written; counts use K = 1,000 and M = 1,000,000, so {truth} is {rounded}"),
    ("mistake", "binary"): N_("{given}, reading {prefix} as {power}, matches {value}: {mistake}; the right count is "
                           "{truth}"),
    ("mistake", "rounded down"): N_("{given} matches {value} rounded down: {mistake}; the right count is {truth}"),
    ("mistake", "rounded up"): N_("{given} matches {value} rounded up: {mistake}; the right count is {truth}"),
    ("no bias", "binary"): N_("{given}, reading {prefix} as {power}, matches {value}{worked}, the count without "
                           "bias; with bias it is {truth}"),
    ("no bias", "rounded down"): N_("{given} matches {value}{worked} rounded down, the count without bias; with "
                                 "bias it is {truth}"),
    ("no bias", "rounded up"): N_("{given} matches {value}{worked} rounded up, the count without bias; with bias "
                               "it is {truth}"),
    ("bias", "binary"): N_("{given}, reading {prefix} as {power}, matches {value}{worked}, the count with a bias; "
                        "without one (bias: false) it is {truth}"),
    ("bias", "rounded down"): N_("{given} matches {value}{worked} rounded down, the count with a bias; without one "
                              "(bias: false) it is {truth}"),
    ("bias", "rounded up"): N_("{given} matches {value}{worked} rounded up, the count with a bias; without one "
                            "(bias: false) it is {truth}"),
    "one digit": N_("only the {place} digit differs from the right count {truth}, as a slip in the arithmetic of "
                 "the right formula would give"),
    "swapped": N_("two neighbouring digits are swapped: the right count is {truth}, as a slip in writing out the "
               "right result would give"),
}


PLACES = (N_("ones"), N_("tens"), N_("hundreds"), N_("thousands"), N_("ten-thousands"), N_("hundred-thousands"),
          N_("millions"), N_("ten-millions"), N_("hundred-millions"), N_("billions"))
