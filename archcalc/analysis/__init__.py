"""Analysis: one walk over a Graph producing plain records (analyzer), and the stages that read
those records: memory (liveness and training-step peaks) and counting conventions.

May import: errors, i18n, units, layers, spec. Never prints, never imports report, homework, bridges or torch.
"""
