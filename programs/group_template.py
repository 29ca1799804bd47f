"""The parse program as a group templater: a few lines of one template in, one template out.

:class:`ProgramTemplater` is what :class:`logreasoner.logs.batch_parse.BatchParser` calls once per group. It runs
the same parse-task program that ``analyze --task parse``, the evals and the distillation use (``direct`` by
default, any program kind or compiled program file otherwise), on the lines joined as its log, under its own
model (``dspy.context(lm=...)``; library code never configures DSPy globally).
"""

from __future__ import annotations

from typing import Any, Sequence

import dspy

__all__ = ["ProgramTemplater", "GROUP_QUESTION"]

GROUP_QUESTION = (
    "Every line above is an instance of one log template. Write that template: keep the text that is constant, "
    "write <*> for each part that varies between the lines or is a variable (numbers, ids, paths, addresses, "
    "names)."
)


class ProgramTemplater:
    """``templater(lines) -> template | None`` over the parse program; counts its calls and format failures."""

    def __init__(self, lm: Any = None, program: Any = "direct", question: str = GROUP_QUESTION) -> None:
        self.lm = lm
        self._program_spec = program
        self._program: Any = None  # built on first call: construction does no work
        self.question = question
        self.calls = 0
        self.format_errors = 0
        self.name = str(getattr(lm, "model", "") or "")

    @property
    def program(self) -> Any:
        if self._program is None:
            from logreasoner.programs.resolve import resolve_program

            self._program = resolve_program(self._program_spec, "parse")
        return self._program

    def __call__(self, lines: Sequence[str]) -> str | None:
        self.calls += 1
        with dspy.context(**({"lm": self.lm} if self.lm is not None else {})):
            pred = self.program(log="\n".join(lines), question=self.question if len(lines) > 1 else "")
        answer = getattr(pred, "answer", None)
        template = getattr(answer, "template", None)
        if template is None:
            self.format_errors += 1
        return template
