"""Settings read back from a dict: values that runs of earlier versions hold still load."""

from cnnlab.settings import Settings


def test_old_boolean_tta_settings_still_load():
    assert Settings.from_dict({"tta": True}).run.tta == "flip"
    assert Settings.from_dict({"tta": False}).run.tta == "none"
