"""Swap stages: no retrieval, your own retriever, and a different model per stage."""

import dspy

from logreasoner import ExpertPlan, LogReasoner, load_lm


class RunbookRetriever:
    """Your own retriever: anything with retrieve(query, *, task=None, k=3) -> list[ExpertPlan]."""

    def retrieve(self, query, *, task=None, k=3):
        return [ExpertPlan(id="ssh-runbook", title="Our SSH runbook", problem_overview="Repeated login failures",
                           reasoning_steps=["count failures per source", "check for a success after failures"])]


def main(lm=None, planner_lm=None):
    lm = lm or load_lm("local")
    log = "Failed password for root from 10.0.0.9 port 22 ssh2\n" * 3 + "Accepted password for root from 10.0.0.9\n"
    programs = {
        "no retrieval": LogReasoner("anomaly", retriever=None),
        "own retriever": LogReasoner("anomaly", retriever=RunbookRetriever()),
        "strong planner, local steps": LogReasoner("anomaly", planner_lm=planner_lm or lm, step_lm=lm),
    }
    results = {}
    with dspy.context(lm=lm):
        for name, program in programs.items():
            pred = program(log=log, question="was this account compromised?")
            results[name] = pred.answer
            print(f"{name}: {pred.answer} (plans: {[p.id for p in pred.expert_plans]})")
    return results


if __name__ == "__main__":
    main()
