"""resources/configs holds every preset as TOML, exactly as `ganstudio config --preset NAME` prints it."""

from pathlib import Path

from ganstudio.core.config import load, presets, to_toml

CONFIGS = Path(__file__).resolve().parent.parent / "resources" / "configs"


def test_every_preset_has_a_current_toml_file():
    assert sorted(p.stem for p in CONFIGS.glob("*.toml")) == sorted(presets.NAMES)
    for name in presets.NAMES:
        path = CONFIGS / f"{name}.toml"
        assert path.read_text(encoding="utf-8") == to_toml(presets.get(name)), (
            f"{path} is stale: regenerate it with `ganstudio config --preset {name} > {path}`"
        )
        assert load(path) == presets.get(name)
