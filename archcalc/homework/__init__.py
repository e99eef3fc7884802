"""Homework: the student's and teacher's side: worked explanations (explain), grading answers and
pasted summaries (check: answers reads them, diagnoses names the mistakes, text holds every sentence it
shows; summary_parse reads pasted tables), comparisons (compare) and the small calculators (calc).

May import: errors, i18n, units, layers, spec, analysis, report. Reads the analyzer's records; never walks the
graph again.
"""
