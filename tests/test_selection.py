from loralab.artifacts import read_json
from loralab.selection import (
    SELECTION_RULE,
    lora_method,
    select_per_fold,
    select_rank,
    trained_summaries,
    trial_histories,
)


def summaries(*ranks):
    return [
        {
            "rank": r,
            "val_macro_f1": f1,
            "val_accuracy": correct / 46,
            "val_items": 46,
            "val_loss": loss,
            "best_epoch": 1,
            "trainable_mb": 1.0,
            "time_to_best_s": 1.0,
        }
        for r, f1, correct, loss in ranks
    ]


def test_the_best_validation_macro_f1_selects_the_rank():
    rank, table = select_rank(summaries((16, 0.98, 45, 0.2), (8, 0.93, 43, 0.1)))
    assert rank == 16 and table["rank"].tolist() == [16, 8]
    assert table["tied"].tolist() == [True, False]


def test_ranks_validation_cannot_separate_go_to_the_smallest_not_to_the_loss():
    rank, table = select_rank(
        summaries((16, 0.978, 45, 0.10), (8, 0.978, 45, 0.30), (4, 0.9, 42, 0.01))
    )
    assert rank == 8 and table["rank"].tolist() == [8, 16, 4]
    assert table["tied"].tolist() == [True, True, False]
    assert table.loc[table["selected"], "rank"].item() == 8


def test_a_runs_recorded_choice_is_what_its_training_summaries_select(smoke_artifacts):
    run = smoke_artifacts()
    chosen = read_json(run.evaluation)
    selection = select_per_fold(trained_summaries(run), seed=42)
    assert selection.rank == chosen["selected_rank"] and chosen["selection_rule"] == SELECTION_RULE
    assert selection.table.to_dict("records") == chosen["selection"]
    assert selection.method == chosen["selected_method"] == lora_method(selection.rank)
    assert lora_method(selection.rank) in set(read_json(run.evaluation)["methods"])
    assert lora_method(None) is None
    histories = trial_histories(run)
    assert list(histories) == ["r2-f0-s42", "r4-f0-s42"]
    assert all("val_macro_f1" in h.columns for h in histories.values())
