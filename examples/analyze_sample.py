"""The main job from Python: analyse the bundled OpenSSH sample and print plan, steps and answer."""

from logreasoner import analyze


def main(model="local"):
    result = analyze("logreasoner/data/samples/OpenSSH_2k.log", task="anomaly", model=model, max_templates=12)
    print("plan:", result.plan)
    for step in result.steps:
        print(" -", step["step"], "->", step["finding"], step["evidence_lines"])
    print("answer:", result.answer, "format error:", result.format_error)
    return result


if __name__ == "__main__":
    main()
