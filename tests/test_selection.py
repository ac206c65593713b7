from loralab.selection import select_rank


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
