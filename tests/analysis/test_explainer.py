"""The explainer's model and images: a run's own test images, a zoo model with fixed random weights, its layers as
`summarize` gives them."""

import pytest
import torch

from cnnlab.analysis.explainer import Explainer, example_images, explained_model, random_model
from cnnlab.analysis.summary import summarize_run
from cnnlab.errors import CnnlabError


def test_a_runs_test_images_are_picked_per_class_with_their_labels(trained_run):
    loaded = explained_model(trained_run[0])
    examples = example_images(loaded, per_class=3)
    assert examples.images.shape == (9, 3, 32, 32) and examples.images.dtype == torch.uint8
    assert [loaded.classes[label] for label in examples.labels] == [name.split("/")[1] for name in examples.names]
    assert all(name.startswith("test/") for name in examples.names)
    assert sorted(set(examples.labels)) == [0, 1, 2]


def test_the_layers_are_the_summarys_rows(trained_run):
    explainer = Explainer(explained_model(trained_run[0]))
    rows = summarize_run(trained_run[0]).to_dict()["layers"]
    layers = explainer.layers()
    assert [(layer["name"], layer["receptive_field"], layer["output_shape"]) for layer in layers] == \
        [(row["name"], row["receptive_field"], row["output_shape"]) for row in rows]
    assert [layer["maps"] for layer in layers].count(True) == 13  # 3 x (conv, bn, relu, pool) + the adaptive pool


def test_a_zoo_model_by_name_has_the_same_random_weights_each_time_and_the_samples_classes():
    first, second = random_model("simplecnn"), random_model("simplecnn")
    assert torch.equal(first.model.features[0][0].conv.weight, second.model.features[0][0].conv.weight)
    assert first.classes[:2] == ["airplane", "automobile"] and first.input_shape == (3, 32, 32)
    examples = example_images(first, per_class=1)
    assert len(examples.labels) == 10 and examples.labels == list(range(10))


def test_a_path_that_is_no_run_is_refused():
    with pytest.raises(CnnlabError, match="no such run"):
        explained_model("runs/missing")
