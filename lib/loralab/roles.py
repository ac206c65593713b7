"""A method's role in the study: set on its class (methods/), recorded in evaluation.json, and
read from there by the statistics step, the headline and `loralab compare`, so a new method
takes its place in every table, test and headline by its class alone."""

TRAINED = "trained"  # what the study measures: LoRA, selected on validation
ANCHOR = "anchor"  # the untrained model every trained method is compared with (zero-shot)
HEADLINE = "headline"  # a baseline the headline shows beside the selected method
BASELINE = "baseline"  # in the tables, and tested against the selected method
CANDIDATE = "candidate"  # a trained configuration that no fold selected: in the tables, not tested
ROLES = (TRAINED, ANCHOR, HEADLINE, BASELINE, CANDIDATE)


def with_role(roles: dict[str, str], role: str) -> list[str]:
    """The methods of evaluation.json's `roles` that have `role`, in table order."""
    return [method for method, r in roles.items() if r == role]
