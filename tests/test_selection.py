from loralab.artifacts import read_json
from loralab.selection import (
    SELECTION_RULE,
    lora_method,
    rank_histories,
    select_rank,
    trained_summaries,
)


def test_rank_selection_breaks_ties_by_loss_then_rank():
    rows = [
        {
            "rank": r,
            "val_macro_f1": f1,
            "val_loss": loss,
            "val_accuracy": 1.0,
            "best_epoch": 1,
            "trainable_mb": 1.0,
            "time_to_best_s": 1.0,
        }
        for r, f1, loss in [(16, 1.0, 0.20), (8, 1.0, 0.20), (4, 0.9, 0.01)]
    ]
    rank, table = select_rank(rows)
    assert rank == 8 and table["rank"].tolist() == [8, 16, 4]
    rows[0]["val_loss"] = 0.1
    assert select_rank(rows)[0] == 16


def test_a_runs_recorded_choice_is_what_its_training_summaries_select(smoke_artifacts):
    run = smoke_artifacts()
    chosen = read_json(run.evaluation)
    rank, table = select_rank(trained_summaries(run))
    assert rank == chosen["selected_rank"] and chosen["selection_rule"] == SELECTION_RULE
    assert table.to_dict("records") == chosen["selection"]
    assert lora_method(rank) in set(read_json(run.evaluation)["methods"])
    assert lora_method(None) is None
    histories = rank_histories(run)
    assert list(histories) == [2, 4]
    assert all("val_macro_f1" in h.columns for h in histories.values())
