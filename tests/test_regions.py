import importlib.util
import json

import pytest

from pantau.cameras.regions import dki_regions
from pantau.runtime.paths import CONFIGS_DIR, REPO_ROOT


def test_tree_has_every_dki_region():
    tree = dki_regions()
    assert [len(tree.at_level(level)) for level in ("provinsi", "kota", "kecamatan", "kelurahan")] == [1, 6, 44, 267]
    for kecamatan in tree.at_level("kecamatan"):
        assert tree.get(kecamatan.parent).level == "kota"
        assert tree.children(kecamatan.code), kecamatan


def test_committed_tree_matches_the_source_csv():
    """configs/ is built from ../shared/data by tools/build_regions.py and must not drift."""
    source = REPO_ROOT.parent / "shared" / "data" / "dki-wilayah.csv"
    if not source.exists():
        pytest.skip("../shared/data is not beside this checkout")
    spec = importlib.util.spec_from_file_location("build_regions", REPO_ROOT / "tools" / "build_regions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(source)["regions"] == json.loads((CONFIGS_DIR / "regions-dki.json").read_text())["regions"]


@pytest.mark.parametrize(
    "variant, code",
    [("Palmerah", "31.73.07"), ("Pal Merah", "31.73.07"), ("Pulo Gadung", "31.75.02"), ("Pulogadung", "31.75.02"),
     ("Kramat Jati", "31.75.04"), ("Kramatjati", "31.75.04"), ("Setia Budi", "31.74.02"), ("Setiabudi", "31.74.02"),
     ("Tamansari", "31.73.03"), ("Taman Sari", "31.73.03"), ("kecamatan gambir", "31.71.01"), ("GAMBIR", "31.71.01")],
)
def test_kecamatan_name_variants(variant, code):
    assert dki_regions().lookup(variant, "kecamatan").code == code


def test_lookup_by_code_and_name_across_levels():
    tree = dki_regions()
    assert tree.lookup("31.71.01.1001").name == "Gambir"
    assert tree.lookup("Jakarta Pusat").code == "31.71"
    assert tree.lookup("Kota Administrasi Jakarta Utara").code == "31.72"
    # Gambir is both a kecamatan and a kelurahan: without a level the kecamatan wins.
    assert tree.lookup("Gambir").level == "kecamatan"
    assert tree.lookup("Gambir", "kelurahan").code == "31.71.01.1001"
    assert tree.lookup("Atlantis") is None
    assert tree.path("31.71.01.1001") == {
        "kelurahan": {"code": "31.71.01.1001", "name": "Gambir"},
        "kecamatan": {"code": "31.71.01", "name": "Gambir"},
        "kota": {"code": "31.71", "name": "Kota Administrasi Jakarta Pusat"},
    }


def test_config_file_is_self_contained():
    data = json.loads((CONFIGS_DIR / "regions-dki.json").read_text())
    assert all(set(r) == {"code", "level", "name", "parent"} for r in data["regions"])
    assert all(r["name"] == r["name"].strip() for r in data["regions"])
