"""A custom task in about 20 lines: how urgently must on-call act on these log lines?"""

from typing import Literal

from pydantic import BaseModel, Field

from logreasoner import Task, register_task


class Urgency(BaseModel):
    level: Literal["low", "medium", "high"] = Field(description="how soon an engineer must act")
    reason: str = Field("", description="one sentence", json_schema_extra={"maxLength": 200})


URGENCY = register_task(
    Task(
        name="urgency",
        description="Rate how urgently an on-call engineer must act on these log lines, and say why.",
        answer_type=Urgency,
        primary_field="level",
        method_flowchart="method-anomaly-detection",
    ),
    replace=True,
)

if __name__ == "__main__":
    from logreasoner import analyze

    print(analyze("logreasoner/data/samples/OpenSSH_2k.log", task="urgency").model_dump_json(indent=2))
