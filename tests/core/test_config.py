"""ganstudio.core.config and presets: defaults, the validator's messages, TOML in and out, --set."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from ganstudio.core.config import (
    KEYS,
    LIVE_KEYS,
    RUN_NAME_MAX_BYTES,
    Config,
    ConfigError,
    LockedKeys,
    apply_overrides,
    check_value,
    from_dict,
    from_toml,
    live_changes,
    live_update,
    load,
    locked_message,
    parse_value,
    presets,
    resolved_image_shape,
    save,
    to_dict,
    to_toml,
    validate,
    with_values,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "configs"


def problems_of(values: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(with_values(Config(), values))
    return info.value.problems


# --- defaults -----------------------------------------------------------------------------------


def test_defaults_are_the_classic_gan():
    cfg = Config()
    assert validate(cfg) is cfg
    assert cfg.data.dataset == "digits" and resolved_image_shape(cfg.data) == (1, 8, 8)
    assert cfg.model.arch == "mlp" and cfg.model.latent_dim == 100
    assert cfg.loss.kind == "nonsaturating"
    assert cfg.optim.lr_g == 2e-4 and cfg.optim.lr_d == 2e-4
    assert cfg.optim.beta1 == 0.5 and cfg.optim.beta2 == 0.999 and cfg.optim.d_steps == 1
    assert cfg.train.batch_size == 64 and cfg.train.ema == 0.0 and cfg.train.seed == 0


def test_every_key_is_described():
    assert len(KEYS) == sum(len(dataclasses.fields(getattr(Config(), s))) for s in to_dict(Config()))
    for info in KEYS.values():
        assert info.help.strip(), info.key
        assert isinstance(info.default, info.type), info.key
        assert check_value(info.key, info.default) is None, info.key
    # Learning rates can change while training runs; the model's shape cannot.
    assert {"optim.lr_g", "optim.lr_d", "train.steps", "loss.gp_weight"} <= LIVE_KEYS
    assert not {"model.latent_dim", "model.arch", "data.dataset", "train.batch_size"} & LIVE_KEYS


# --- one bad value: the message names the key, the value and what is allowed ------------------------

BAD_VALUES = [
    # key, value, words the message must hold besides the key and repr(value)
    ("optim.lr_g", math.nan, ["not a finite number", "> 0", "<= 10"]),
    ("optim.lr_g", math.inf, ["not a finite number", "> 0"]),
    ("optim.lr_d", -math.inf, ["not a finite number", "> 0"]),
    ("optim.lr_g", 0.0, ["too small", "> 0"]),
    ("optim.lr_d", -1e-3, ["too small", "> 0"]),
    ("optim.lr_g", 11.0, ["too large", "<= 10"]),
    ("train.batch_size", 0, ["too small", ">= 1"]),
    ("train.ema", 1.0, ["too large", "<= 0.99999"]),
    ("data.dataset", "imagenet", ["not allowed", "'digits'", "'ring8'", "'cifar10'"]),
    ("model.arch", "vgg", ["not allowed", "'mlp'", "'dcgan'", "'resnet'"]),
    ("loss.kind", "wasserstein", ["not allowed", "'nonsaturating'", "'wgan-gp'"]),
    ("data.channels", 2, ["not allowed", "0", "1", "3"]),
    ("optim.lr_g", "1e-4", ["is a str", "a number"]),
    ("train.batch_size", True, ["is a bool", "a whole number"]),
    ("train.batch_size", 64.0, ["is a float", "a whole number"]),
    ("train.amp", 1, ["int", "true or false"]),
    ("log.name", 3, ["int", "text"]),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES])
def test_validate_rejects_bad_value(key, value, words):
    problems = problems_of({key: value})
    assert len(problems) == 1, problems
    msg = problems[0]
    assert msg.startswith(f"{key} = {value!r} "), msg
    for w in words:
        assert w in msg, (w, msg)
    assert check_value(key, value) == msg


def test_validate_lists_every_problem():
    problems = problems_of({"optim.lr_g": -1.0, "train.batch_size": 0, "model.arch": "x"})
    assert len(problems) == 3
    assert [p.split(" = ")[0] for p in problems] == ["model.arch", "optim.lr_g", "train.batch_size"]


def test_check_value_unknown_key():
    msg = check_value("optim.lr", 1e-3)
    assert "unknown key 'optim.lr'" in msg and "optim.lr_g" in msg


@pytest.mark.parametrize(
    ("key", "guess"),
    [
        ("train.lr_d", "optim.lr_d"),
        ("lr_g", "optim.lr_g"),
        ("train.bach_size", "train.batch_size"),
        ("model.widht", "model.width"),
        ("Train.Steps", "train.steps"),
        ("log.tensorbord", "log.tensorboard"),
    ],
)
def test_an_unknown_key_names_the_likely_one_everywhere_a_key_is_read(key, guess, tmp_path):
    """The right name in another section, a typo or the wrong case: the message says which key was
    probably meant, whether the key came from --set, a config file, a live edit or a field."""
    want = f"unknown key '{key}' (did you mean '{guess}'?); known keys: "
    assert check_value(key, 1).startswith(want)
    with pytest.raises(ConfigError) as set_info:
        apply_overrides(Config(), [f"{key}=1"])
    section, _, name = key.rpartition(".")
    path = tmp_path / "c.toml"
    path.write_text(f"[{section}]\n{name} = 1\n" if section else f"{name} = 1\n")
    with pytest.raises(ConfigError) as file_info:
        load(path)
    with pytest.raises(ConfigError) as values_info:
        with_values(Config(), {key: 1})
    for info in (set_info, values_info):
        assert info.value.problems[0].startswith(want), info.value.problems
    if section and section.lower() == section:  # a known section: the key is read, and refused
        assert f"did you mean '{guess}'?" in file_info.value.problems[0], file_info.value.problems


def test_an_unknown_key_with_no_likely_one_lists_them_all():
    msg = check_value("foo.bar", 1)
    assert msg.startswith("unknown key 'foo.bar'; known keys: data.dataset") and "did you mean" not in msg


def test_float_keys_take_ints():
    cfg = validate(with_values(Config(), {"optim.lr_g": 1, "train.ema": 0}))
    assert cfg.optim.lr_g == 1


# --- cross-field checks --------------------------------------------------------------------------


def test_dcgan_on_native_digits_is_refused():
    (msg,) = problems_of({"model.arch": "dcgan"})
    assert "model.arch = 'dcgan'" in msg and "data.image_size" in msg and "8x8" in msg
    assert "16, 28, 32, 64" in msg


@pytest.mark.parametrize("size", [16, 28, 32, 64])
def test_dcgan_on_digits_at_a_dcgan_size_is_valid(size):
    cfg = validate(with_values(Config(), {"model.arch": "dcgan", "data.image_size": size}))
    assert resolved_image_shape(cfg.data) == (1, size, size)


def test_dcgan_native_sizes():
    validate(with_values(Config(), {"model.arch": "dcgan", "data.dataset": "mnist"}))
    validate(with_values(Config(), {"model.arch": "dcgan", "data.dataset": "cifar10"}))
    (msg,) = problems_of({"model.arch": "dcgan", "data.dataset": "cifar10", "data.image_size": 24})
    assert "24x24" in msg


@pytest.mark.parametrize("dataset", ["ring8", "grid25", "spiral"])
def test_dcgan_on_2d_points_is_refused(dataset):
    (msg,) = problems_of({"model.arch": "dcgan", "data.dataset": dataset})
    assert f"data.dataset = '{dataset}'" in msg and "2D" in msg and "'mlp'" in msg


def test_device_names():
    for ok in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        validate(with_values(Config(), {"train.device": ok}))
    for bad in ("gpu", "cuda:", "cuda:x", ""):
        (msg,) = problems_of({"train.device": bad})
        assert f"train.device = {bad!r}" in msg and "cuda:N" in msg


def test_tiny_image_size_and_empty_folder_root():
    (msg,) = problems_of({"data.image_size": 2})
    assert "data.image_size = 2" in msg
    (msg,) = problems_of({"data.dataset": "folder", "data.root": "  "})
    assert "data.root" in msg and "folder" in msg


# --- TOML -----------------------------------------------------------------------------------------

CHANGED = {
    "data.dataset": "cifar10",
    "data.image_size": 32,
    "data.root": "/data/sets",
    "model.arch": "dcgan",
    "model.width": 32,
    "loss.kind": "hinge",
    "optim.lr_g": 1.5e-4,
    "optim.beta2": 0.99,
    "train.seed": 2**63 - 1,
    "train.amp": True,
    "train.ema": 0.999,
    "log.name": 'run "quoted" ünïcode',
}


def test_toml_round_trip(tmp_path):
    cfg = validate(with_values(Config(), CHANGED))
    assert from_toml(to_toml(cfg)) == cfg
    save(cfg, tmp_path / "sub" / "run.toml")
    assert load(tmp_path / "sub" / "run.toml") == cfg
    assert list((tmp_path / "sub").iterdir()) == [tmp_path / "sub" / "run.toml"]  # no temp file left
    assert from_toml(to_toml(Config())) == Config()


def test_toml_partial_file_keeps_defaults():
    cfg = from_toml('[optim]\nlr_g = 1\n[data]\ndataset = "ring8"\n')
    assert cfg.optim.lr_g == 1.0 and isinstance(cfg.optim.lr_g, float)
    assert cfg.data.dataset == "ring8" and cfg.model == Config().model


def test_toml_unknown_key_and_section(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[optim]\nlr = 1e-3\n[training]\nsteps = 5\n[model]\nlatent_dim = 8\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    problems = info.value.problems
    assert len(problems) == 2
    assert str(path) in problems[0] and "unknown key 'optim.lr'" in problems[0]
    assert str(path) in problems[1] and "unknown section [training]" in problems[1] and "optim" in problems[1]


def test_toml_bad_values_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[optim]\nlr_g = -1.0\n[train]\nbatch_size = "big"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert len(info.value.problems) == 2
    assert all(p.startswith(f"{path}: ") for p in info.value.problems)
    assert "optim.lr_g = -1.0 is too small" in str(info.value)
    assert "train.batch_size = 'big' is a str" in str(info.value)


def test_toml_section_must_be_a_table():
    with pytest.raises(ConfigError, match=r"\[data\] must be a table"):
        from_toml("data = 5\n")
    with pytest.raises(ConfigError, match="expected a table of sections"):
        from_dict([1, 2])


def test_invalid_toml_syntax(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[optim\nlr_g = \n")
    with pytest.raises(ConfigError) as info:
        load(path)
    msg = str(info.value)
    assert str(path) in msg and "not valid TOML" in msg and "line 1" in msg


def test_missing_and_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        load(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in str(info.value)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="cannot read config file") as info:
        load(binary)
    assert str(binary) in str(info.value)


# --- --set key=value ----------------------------------------------------------------------------


def test_apply_overrides_parses_each_type():
    cfg = apply_overrides(
        Config(),
        [
            "optim.lr_g=1e-3",
            "train.batch_size= 32",
            "train.amp=yes",
            "data.dataset=ring8",
            " optim.beta1 =0",
            "log.name=a=b",
        ],
    )
    assert cfg.optim.lr_g == 1e-3 and cfg.train.batch_size == 32 and cfg.train.amp is True
    assert cfg.data.dataset == "ring8" and cfg.optim.beta1 == 0.0 and cfg.log.name == "a=b"
    assert isinstance(cfg.optim.beta1, float)
    assert apply_overrides(cfg, ["train.amp=off"]).train.amp is False
    assert apply_overrides(Config(), []) == Config()


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("optim.lr=1e-3", ["unknown key 'optim.lr'", "optim.lr_g"]),
        ("lr_g=1e-3", ["unknown key 'lr_g'"]),
        ("optim.lr_g=fast", ["optim.lr_g", "'fast'", "a number"]),
        ("train.batch_size=1.5", ["train.batch_size", "'1.5'", "a whole number"]),
        ("train.amp=maybe", ["train.amp", "'maybe'", "true or false"]),
        ("optim.lr_g=-1", ["optim.lr_g = -1.0 is too small", "> 0"]),
        ("optim.lr_g=nan", ["optim.lr_g = 'nan' is not a finite number"]),
        ("model.arch=dcgan", ["model.arch = 'dcgan' needs data.image_size"]),
        ("train.steps", ["'train.steps'", "expected key=value"]),
    ],
)
def test_apply_overrides_rejects(assignment, words):
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), [assignment])
    msg = str(info.value)
    for w in words:
        assert w in msg, (w, msg)


def test_apply_overrides_reports_every_bad_assignment():
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), ["optim.lr_g=x", "nope.key=1", "train.steps"])
    assert len(info.value.problems) == 3


def test_live_changes():
    old = Config()
    new = with_values(old, {"optim.lr_g": 1e-3, "model.latent_dim": 8})
    assert live_changes(old, new) == {"optim.lr_g": (2e-4, 1e-3), "model.latent_dim": (100, 8)}
    assert live_changes(old, old) == {}


def test_a_live_edit_of_locked_keys_names_them_in_the_one_wording():
    old = Config()
    with pytest.raises(LockedKeys) as info:
        live_update(old, {"model.width": 64, "data.dataset": "ring8", "optim.lr_g": 1e-3})
    e = info.value
    assert e.keys == ("data.dataset", "model.width") and e.why == "train"
    assert e.problems == [locked_message("data.dataset"), locked_message("model.width")]
    assert e.problems[1] == (
        "model.width cannot change while training runs: the models are built from it; "
        "start a new run to change it"
    )
    # A bad value is a ConfigError that is not a lock: no keys to name as locked.
    with pytest.raises(ConfigError) as info:
        live_update(old, {"optim.lr_g": -1.0})
    assert not isinstance(info.value, LockedKeys)
    # Continuing a run names the checkpoint as the reason instead.
    with pytest.raises(LockedKeys) as info:
        live_update(old, {"model.width": 64}, allowed=LIVE_KEYS, why="resume")
    assert info.value.problems == [locked_message("model.width", "resume")]
    assert "fixed by the checkpoint" in info.value.problems[0]


# --- presets and example files --------------------------------------------------------------------


@pytest.mark.parametrize("name", presets.NAMES)
def test_preset_is_valid(name):
    cfg = presets.get(name)
    assert validate(cfg) == cfg
    assert from_toml(to_toml(cfg)) == cfg
    assert presets.describe(name).strip()


def test_preset_contents():
    assert presets.get("digits") == Config()
    assert presets.get("ring8").data.dataset == "ring8"
    assert presets.get("ring8-minimax").loss.kind == "minimax"
    assert presets.get("digits-wgan-gp").loss.kind == "wgan-gp"
    dc = presets.get("digits-dcgan")
    assert dc.model.arch == "dcgan" and resolved_image_shape(dc.data) == (1, 16, 16)
    with pytest.raises(KeyError, match="unknown preset 'nope'.*ring8"):
        presets.get("nope")


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml")) if EXAMPLES.is_dir() else []


@pytest.mark.skipif(not EXAMPLE_FILES, reason="no resources/configs/*.toml yet")
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_example_config_loads(path):
    cfg = load(path)
    assert validate(cfg) == cfg
    assert from_toml(to_toml(cfg)) == cfg


# --- hostile values (issue #9): a ConfigError naming the key, never a traceback --------------------


def test_deep_nesting_and_huge_numbers_are_config_errors(tmp_path):
    deep = 1
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(ConfigError, match=r"optim.lr_g = \[\[\[.*is a list; it must be a number"):
        from_dict({"optim": {"lr_g": deep}})
    with pytest.raises(ConfigError, match="nests arrays or tables too deeply"):
        from_toml("[optim]\nlr_g = " + "[" * 1000 + "1" + "]" * 1000)
    with pytest.raises(ConfigError, match="optim.lr_g = .*401 digits.* is too large to be a number"):
        from_dict({"optim": {"lr_g": 10**400}})
    with pytest.raises(ConfigError, match="loss.gp_weight = .*401 digits.* is too large to be a number"):
        from_toml("[loss]\ngp_weight = 1" + "0" * 400)
    with pytest.raises(ConfigError, match="not valid TOML"):
        from_toml("[log]\nevery = " + "1" * 5000)  # Python refuses ints over 4,300 digits
    # An int key without a maximum still holds only what a config file can: 64 bits.
    (msg,) = problems_of({"log.every": 2**63})
    assert msg.startswith(f"log.every = {2**63} is too large") and str(2**63 - 1) in msg


@pytest.mark.parametrize(
    ("key", "text", "words"),
    [
        ("train.steps", "٣", ["digits 0-9"]),  # int() takes Arabic-Indic digits
        ("optim.lr_g", "٣", ["digits 0-9"]),
        ("train.steps", "１０", ["digits 0-9"]),  # and full-width ones
        ("train.steps", "1e-400", ["not a whole number"]),  # was silently 0
        ("optim.lr_g", "1e-400", ["too close to 0"]),
        ("optim.lr_g", "1e309", ["too large to be a number"]),  # was inf
        ("optim.lr_g", "-infinity", ["not a finite number"]),
        ("train.steps", "nan", ["not a finite number"]),
        ("train.steps", "0x10", ["not valid"]),
        ("train.steps", "2.5", ["not a whole number"]),
        ("train.steps", "1e999999999", ["too large"]),  # int(Decimal(...)) of it would never finish
        ("train.seed", "9" * 5000, ["too large"]),
    ],
)
def test_parse_value_refuses_rather_than_changes(key, text, words):
    with pytest.raises(ConfigError) as info:
        parse_value(key, text)
    (msg,) = info.value.problems
    assert msg.startswith(f"{key} = ") and "it must be" in msg and len(msg) < 400, msg
    assert text[:20] in msg
    for w in words:
        assert w in msg, (w, msg)


def test_parse_value_accepts_plain_spellings():
    assert parse_value("train.steps", " 1_000 ") == 1000  # as TOML writes it
    assert parse_value("train.steps", "1e4") == 10_000 and parse_value("train.seed", "-0") == 0
    zero = parse_value("optim.beta1", "-0")
    assert zero == 0.0 and math.copysign(1.0, zero) == 1.0  # no field shows "-0.0"
    assert math.copysign(1.0, from_toml("[optim]\nbeta1 = -0.0\n").optim.beta1) == 1.0
    assert parse_value("optim.lr_g", "1E-3") == 1e-3 and parse_value("train.amp", "On") is True


@pytest.mark.parametrize("key", ["log.out", "log.name", "data.root", "train.device"])
def test_nul_in_text_is_refused_naming_the_key(key):
    for refuse in (
        lambda: apply_overrides(Config(), [f"{key}=runs\0x"]),
        lambda: from_dict({key.split(".")[0]: {key.split(".")[1]: "runs\0x"}}),
        lambda: from_toml(f'[{key.split(".")[0]}]\n{key.split(".")[1]} = "runs\\u0000x"\n'),
    ):
        with pytest.raises(ConfigError) as info:
            refuse()
        assert f"{key} = 'runs\\x00x'" in str(info.value) and "NUL" in str(info.value)
    assert "lone surrogate" in check_value(key, "x\ud800")  # a checkpoint's dict could hold one


def test_log_name_names_one_folder_that_fits():
    for bad, words in [
        ("a/b", "path separator"),
        ("..\\x", "path separator"),
        ("..", "not a folder name"),
        (".", "not a folder name"),
    ]:
        (msg,) = problems_of({"log.name": bad})
        assert msg.startswith(f"log.name = {bad!r} ") and words in msg, msg
    longest = "é" * (RUN_NAME_MAX_BYTES // 2) + "x" * (RUN_NAME_MAX_BYTES % 2)
    assert validate(with_values(Config(), {"log.name": longest}))
    (msg,) = problems_of({"log.name": longest + "x"})
    assert f"is {RUN_NAME_MAX_BYTES + 1} bytes long" in msg and f"at most {RUN_NAME_MAX_BYTES} bytes" in msg
    # 16 bytes of time stamp and up to 4 of "-999" (RunFolder.create) still fit in 255.
    assert len(f"20261129-153000-{longest}-999".encode()) == 255


def test_toml_types_where_a_value_belongs():
    with pytest.raises(ConfigError, match=r"train.steps = \{'a': 1\} is a table; it must be a whole number"):
        from_toml("[train.steps]\na = 1\n")
    with pytest.raises(ConfigError, match="train.steps = datetime.* is a date-time; it must be"):
        from_toml("[train]\nsteps = 1979-05-27T07:32:00Z\n")
    with pytest.raises(ConfigError, match=r"\[train\] must be a table"):
        from_toml("[[train]]\nsteps = 1\n")


@pytest.mark.parametrize("device", ["cuda:٣", "cuda:²", "cuda:007", "cuda:128", "cuda:" + "9" * 30])
def test_device_index_must_be_plain(device):
    (msg,) = problems_of({"train.device": device})
    assert f"train.device = {device!r} is not a device" in msg and "0..127" in msg
    validate(with_values(Config(), {"train.device": "cuda:127"}))


def test_config_path_with_nul_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(str(tmp_path / "a\0b.toml"))
