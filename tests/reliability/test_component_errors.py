"""Bad component arguments and tensors through ``fusion train RECIPE key=value``: exit code 2 and one
sentence that names the component, the argument or tensor, the value and what was expected; never a
traceback. One case per error category the encoders, mixers and transforms raise."""

import re

import pytest
import yaml
from test_bad_recipes import GOOD

from fusion.cli import main

CASES = {
    "RecipeError: late weights for a modality without encoder": (
        ["model.mixer.name=late", "model.mixer.args.weights={rgb: 2.0}"],
        r"late: model\.mixer\.args\.weights names rgb, which the model has no encoder for; expected weights for skeleton",
    ),
    "RecipeError: mmixer over one modality": (
        ["model.mixer.name=mmixer"],
        r"mmixer: the model has encoders for skeleton only; expected at least 2 modalities",
    ),
    "ContractError: skeleton batch that does not fit the layout": (
        ["model.encoders.skeleton.name=stgcn", "model.encoders.skeleton.args={config: small}"],
        r"stgcn expects a skeleton batch \(B, C, T, V, M\) = \(B, 3, T, 25, M\) for layout 'ntu25'.*got \(",
    ),
    "DataError: dataset argument out of range": (
        ["data.dataset.name=synthact", "data.dataset.args={size: 33}"],
        r"synthact: size=33 must be even",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_component_value_is_one_sentence_and_exit_2(case, tmp_path, capsys):
    overrides, pattern = CASES[case]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(GOOD))
    code = main(["train", str(recipe), "--out", str(tmp_path / "run"), *overrides])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "ValueError" not in err
    assert re.search(pattern, err), err
    assert len(err.strip().splitlines()) == 1, err
