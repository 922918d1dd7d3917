import pytest

from unweave.errors import UnweaveError
from unweave.training.config import available_presets, parse_overrides, resolve, split_preset_name


def test_every_preset_file_has_paper_and_cpu_and_resolves():
    for name in available_presets():
        method, data = split_preset_name(name)
        for preset in ("paper", "cpu"):
            config = resolve(method, data, preset)
            assert config["method"] == method and config["data"]["name"] == data


def test_cpu_preset_is_much_cheaper_than_paper():
    from unweave.models import build_model

    paper = resolve("dbse", "sprites", "paper")["model"]
    cpu = resolve("dbse", "sprites", "cpu")["model"]
    assert cpu["image_size"] == 32 and paper["image_size"] == 64
    n_paper = sum(p.numel() for p in build_model("dbse", paper).parameters())
    n_cpu = sum(p.numel() for p in build_model("dbse", cpu).parameters())
    assert n_cpu * 10 < n_paper


def test_paper_preset_values_are_the_references():
    config = resolve("dbse", "sprites", "paper")
    assert config["optim"] == {
        "name": "adam",
        "lr": 2e-3,
        "betas": [0.9, 0.999],
        "weight_decay": 0.0,
        "schedule": "constant",
    }
    assert config["train"]["batch_size"] == 128 and config["train"]["max_epochs"] == 2000
    model = config["model"]
    assert (model["g_dim"], model["f_dim"], model["z_dim"], model["rnn_size"]) == (
        256,
        256,
        256,
        64,
    )
    assert (model["w_seq"], model["w_frame"]) == (5.0, 1.0)


def test_overrides_are_parsed_as_yaml():
    assert parse_overrides(["model.f_dim=128", "optim.betas=[0.5, 0.9]"]) == {
        "model": {"f_dim": 128},
        "optim": {"betas": [0.5, 0.9]},
    }
    # YAML 1.1 reads "4e-3" and "1E5" as strings; as settings they are numbers.
    assert parse_overrides(["optim.lr=4e-3", "train.note=fast", "model.x=1E5"]) == {
        "optim": {"lr": 0.004},
        "train": {"note": "fast"},
        "model": {"x": 100000.0},
    }
    assert resolve("dbse", "sprites", "cpu", overrides=["model.f_dim=12"])["model"]["f_dim"] == 12


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.f_dimm=3", r"Unknown setting 'model\.f_dimm'.*Did you mean 'model\.f_dim'"),
        ("train.max_epoch=3", r"Unknown setting 'train\.max_epoch'.*'train\.max_epochs'"),
        ("trainr.devices=2", r"Unknown setting 'config\.trainr'"),
        ("model.f_dim", r"has no '='"),
        ("f_dim=3", r"expected SECTION\.KEY=VALUE"),
        ("train.batch_size=0", r"train\.batch_size is 0; expected an integer >= 1"),
        ("optim.lr=fast", r"optim\.lr is 'fast'; expected a number > 0"),
        ("optim.schedule=linear", r"optim\.schedule is 'linear'; expected one of: constant, co"),
        ("optim.lr=-1e-3", r"optim\.lr is -0\.001; expected a number > 0"),
        ("optim.lr=0", r"optim\.lr is 0; expected a number > 0"),
        ("optim.betas=[0.9]", r"optim\.betas is \[0\.9\]; expected two numbers in \[0, 1\)"),
        ("optim.betas=[0.9, 1.5]", r"optim\.betas is \[0\.9, 1\.5\]; expected two numbers"),
        ("optim.weight_decay=-1", r"optim\.weight_decay is -1; expected a number >= 0"),
        ("train.batch_size=true", r"train\.batch_size is True; expected an integer >= 1"),
        ("train.batch_size=-4", r"train\.batch_size is -4; expected an integer >= 1"),
        ("train.max_steps=0", r"train\.max_steps is 0; expected an integer >= 1, or -1"),
        ("train.max_steps=2.5", r"train\.max_steps is 2\.5; expected an integer >= 1, or -1"),
        ("train.seed=-1", r"train\.seed is -1; expected an integer >= 0"),
        *(
            (
                f"train.keep_checkpoints_at={bad}",
                r"train\.keep_checkpoints_at is .*; expected a list",
            )
            for bad in ("x", "[0]", "[1.5]", "true", "[true]", "500")
        ),
        ("train.seed=abc", r"train\.seed is 'abc'; expected an integer >= 0"),
        ("train.drop_last=maybe", r"train\.drop_last is 'maybe'; expected true or false"),
        ("train.log_every_n_steps=0", r"train\.log_every_n_steps is 0; expected an integer"),
        ("trainer.precision=8-bit", r"trainer\.precision is '8-bit'; expected one of: 32-true"),
        ("trainer.devices=0", r"trainer\.devices is 0; expected auto, a count >= 1"),
        ("trainer.devices=many", r"trainer\.devices is 'many'; expected auto"),
        ("trainer.accelerator=quantum", r"trainer\.accelerator is 'quantum'; expected one of"),
        ("trainer.num_nodes=0", r"trainer\.num_nodes is 0; expected an integer >= 1"),
        ("data.options=5", r"data\.options is 5; expected a mapping"),
        ("model.f_dim=0", r"model\.f_dim is 0; expected an integer >= 1"),
        ("model.z_dim=-3", r"model\.z_dim is -3; expected an integer >= 1"),
        ("model.f_dim=2.5", r"model\.f_dim is 2\.5; expected an integer >= 1"),
        ("model.w_kl_static=big", r"model\.w_kl_static is 'big'; expected a number"),
        ("model.w_kl_static=.nan", r"model\.w_kl_static is nan; expected a number"),
    ],
)
def test_bad_overrides_are_one_clear_sentence(override, message):
    with pytest.raises(UnweaveError, match=message):
        resolve("dbse", "sprites", "cpu", overrides=[override])


def test_unknown_preset_method_and_data(monkeypatch, tmp_path):
    with pytest.raises(UnweaveError, match="Preset 'gpu' is not in dbse-sprites.yaml"):
        resolve("dbse", "sprites", "gpu")
    with pytest.raises(UnweaveError, match="Unknown method 'vae'"):
        resolve("vae", "sprites", "cpu")
    with pytest.raises(
        UnweaveError, match="Unknown data set 'mnist'; expected one of: toy-sprites"
    ):
        resolve("dbse", "mnist", "cpu")
    from unweave.training import config

    monkeypatch.setattr(config, "preset_path", lambda m, d: tmp_path / f"{m}-{d}.yaml")
    with pytest.raises(UnweaveError, match="No preset file for method 'dbse' on data 'sprites'"):
        resolve("dbse", "sprites", "cpu")


def test_a_schedule_is_refused_for_models_that_set_their_own():
    with pytest.raises(UnweaveError, match="but v3 sets its own learning rates"):
        resolve("v3", "phonenums", "cpu", overrides=["optim.schedule=cosine"])


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1e-4", 1e-4), ("1e9", 1e9), ("1.0e9", 1e9), ("4E-3", 4e-3), ("128", 128), ("true", True)],
)
def test_numbers_are_read_as_yaml_1_2_does(raw, value):
    parsed = parse_overrides([f"optim.lr={raw}"])["optim"]["lr"]
    assert parsed == value and type(parsed) is type(value)


def test_an_unknown_data_option_suggests_the_closest():
    from unweave.data.registry import load_data

    with pytest.raises(UnweaveError, match=r"Unknown setting 'data\.options\.seq_lenn'.*seq_len"):
        load_data("toy-sprites", "train", seq_lenn=4)
