from loralab.artifacts import read_json
from loralab.data.splits import read_split
from loralab.report.error_analysis import error_browser, static_view, wrong_items


def test_error_analysis_escapes_dataset_text_and_filters_in_the_widget(evaluated):
    _, run, ev, _ = evaluated
    names = read_json(run.evaluation)["methods"]
    test = read_split(run, "test", 0)
    test.loc[0, "text"] = "<script>alert('x')</script> " + test.loc[0, "text"]
    errors = wrong_items(ev.paired, test, names)
    assert (errors["methods wrong"] > 0).all()
    html = static_view(errors, rows=len(errors)).to_html(escape=True)
    if test.loc[0, "id"] in set(errors["id"]):
        assert "&lt;script&gt;" in html and "<script>" not in html
    browser = error_browser(errors)
    choose, _ = browser.children[0].children
    out = browser.children[1]
    choose.value = names["zero_shot"]  # drive the widget's model from Python
    wrong_zero = (ev.paired["pred_zero_shot"] != ev.paired["gold"]).sum()
    assert f"<p>{wrong_zero} items</p>" in out.value
    assert "<script>" not in out.value
