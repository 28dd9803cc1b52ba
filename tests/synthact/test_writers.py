"""SynthAct written in the real formats: byte-identical for a seed, and each file parses back to the arrays."""

from __future__ import annotations

import hashlib
import json
import pickle

import av
import numpy as np
import pytest
from PIL import Image

from fusion.cli import main
from fusion_plugins.synthact.config import SynthActConfig
from fusion_plugins.synthact.dataset import SynthAct
from fusion_plugins.synthact.writers import skeleton_line_count, skeleton_text, write_synthact

TINY = dict(subjects=2, val_subjects=0, classes=4, frames=6, size=32, repetitions=1)  # 24 samples (as `fusion data synthact` writes: no validation subjects)


def _hashes(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    write_synthact(root / "a", SynthActConfig(**TINY), cache_dir=root / "cache_a")
    return root


def test_same_seed_writes_identical_bytes_different_seed_does_not(written):
    root = written
    write_synthact(root / "b", SynthActConfig(**TINY), cache_dir=root / "cache_b")  # cold cache: generated again
    write_synthact(root / "c", SynthActConfig(**TINY, seed=7), cache_dir=root / "cache_c")
    a, b, c = (_hashes(root / n) for n in "abc")
    assert len(a) == 24 + 24 * 6 + 24 + 3  # skeletons, depth frames, videos, two pickles + info
    assert a == b
    assert set(a) == set(c)
    differ = [name for name in a if a[name] != c[name]]
    assert len(differ) >= len(a) - 3  # everything but files that do not depend on the seed


def _read_skeleton(path) -> tuple[int, list[int], list[int], np.ndarray]:
    """A minimal .skeleton parse: frame count, bodies per frame, body IDs, xyz of the first body per frame."""
    lines = path.read_text().splitlines()
    frames, cursor, bodies, ids, xyz = int(lines[0]), 1, [], [], []
    for _ in range(frames):
        count = int(lines[cursor])
        bodies.append(count)
        cursor += 1
        for b in range(count):
            header = lines[cursor].split()
            assert len(header) == 10 and lines[cursor + 1] == "25"
            ids.append(int(header[0]))
            rows = [list(map(float, line.split())) for line in lines[cursor + 2 : cursor + 27]]
            assert all(len(r) == 12 for r in rows)
            if b == 0:
                xyz.append(np.array(rows)[:, :3])
            cursor += 27
    assert cursor == len(lines) == skeleton_line_count(np.array(bodies))
    return frames, bodies, ids, np.array(xyz)


def test_skeleton_files_parse_back(written):
    data = SynthAct("all", modalities=["skeleton"], cache_dir=written / "cache_a", **TINY)
    for i in (0, 13):
        name = data.sample_id(i)
        frames, bodies, ids, xyz = _read_skeleton(written / "a" / "nturgb+d_skeletons" / f"{name}.skeleton")
        sample = data[i]["skeleton"][0]  # (T, V, 3)
        seen = np.abs(sample).sum((1, 2)) > 0  # dropped frames are written with 0 bodies
        assert frames == 6 and bodies == seen.astype(int).tolist()
        assert len(set(ids)) == 1 and ids[0] > 2**53  # one person, a 64-bit Kinect-style ID
        assert np.allclose(xyz, sample[seen], rtol=1e-6, atol=1e-6)


def test_a_dropped_frame_is_written_with_zero_bodies():
    joints = np.ones((1, 3, 25, 3))
    state = np.full((1, 3, 25), 2, np.uint8)
    state[:, 1] = 0
    text = skeleton_text(joints, state, [72057594037931101])
    lines = text.splitlines()
    assert lines[0] == "3" and lines[1] == "1" and lines[29] == "0" and lines[30] == "1"
    assert len(lines) == skeleton_line_count(np.array([1, 0, 1])) == 1 + 28 + 1 + 28
    assert lines[2].startswith("72057594037931101 ")


def test_depth_pngs_are_uint16_millimetres(written):
    data = SynthAct("all", modalities=["depth"], cache_dir=written / "cache_a", **TINY)
    name = data.sample_id(5)
    folder = written / "a" / "nturgb+d_depth_masked" / name
    assert sorted(p.name for p in folder.iterdir()) == [f"MDepth-{i:08d}.png" for i in range(1, 7)]
    image = Image.open(folder / "MDepth-00000003.png")
    frame = np.array(image)
    assert image.mode == "I;16" and frame.dtype == np.uint16 and frame.shape == (32, 32)
    assert np.array_equal(frame, data[5]["depth"][2])


def test_videos_decode_to_the_frames(written):
    data = SynthAct("all", modalities=["rgb"], cache_dir=written / "cache_a", **TINY)
    name = data.sample_id(7)
    with av.open(str(written / "a" / "nturgb+d_rgb" / f"{name}_rgb.mp4")) as container:
        assert not container.streams.audio
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert frames.shape == (6, 32, 32, 3)
    error = np.abs(frames.astype(int) - data[7]["rgb"].astype(int)).mean()
    assert error < 12  # lossy H.264 of noisy 32-pixel frames, but the same picture
    decord = pytest.importorskip("decord")
    reader = decord.VideoReader(str(written / "a" / "nturgb+d_rgb" / f"{name}_rgb.mp4"))
    assert len(reader) == 6 and np.array_equal(reader.get_batch([0, 5]).asnumpy(), frames[[0, 5]])


def test_pickles_follow_pyskl(written):
    ann3d = pickle.loads((written / "a" / "synthact_3danno.pkl").read_bytes())
    ann2d = pickle.loads((written / "a" / "synthact_2d.pkl").read_bytes())
    split = ann3d["split"]
    assert sorted(split) == ["xsub_train", "xsub_val", "xview_train", "xview_val"]
    assert (len(split["xsub_train"]), len(split["xsub_val"]), len(split["xview_train"]), len(split["xview_val"])) == (12, 12, 16, 8)
    assert all("C001" in name for name in split["xview_val"])
    first = ann3d["annotations"][0]
    assert first["frame_dir"] == "S001C001P001R001A001" and first["label"] == 0 and first["total_frames"] == 6
    assert first["keypoint"].dtype == np.float16 and first["keypoint"].shape == (1, 6, 25, 3)
    entry = ann2d["annotations"][3]
    assert entry["keypoint"].shape == (1, 6, 25, 2) and entry["keypoint_score"].shape == (1, 6, 25)
    assert entry["img_shape"] == (32, 32) and entry["label"] == 3
    info = json.loads((written / "a" / "synthact.json").read_text())
    assert info["classes"][:2] == ["drink water", "eat apple"] and info["cameras"]["1"]["intrinsics"]["width"] == 32


def test_cli_writes_the_chosen_formats(tmp_path, capsys):
    code = main(["data", "synthact", "--out", str(tmp_path / "out"), "--subjects", "2", "--classes", "2", "--frames", "4",
                 "--size", "16", "--repetitions", "1", "--modalities", "skeleton,depth", "--cache-dir", str(tmp_path / "c")])
    assert code == 0
    assert "wrote 12 samples" in capsys.readouterr().out
    assert len(list((tmp_path / "out" / "nturgb+d_skeletons").glob("*.skeleton"))) == 12
    assert not (tmp_path / "out" / "nturgb+d_rgb").exists()
    assert main(["data", "synthact", "--out", str(tmp_path / "x"), "--size", "17", "--cache-dir", str(tmp_path / "c")]) == 2
    assert "size=17 must be even" in capsys.readouterr().err


def test_a_second_person_is_a_second_body_with_its_own_id(tmp_path):
    cfg = SynthActConfig(subjects=2, classes=2, frames=4, size=16, repetitions=1, second_person=True)
    write_synthact(tmp_path / "out", cfg, modalities=("skeleton",), cache_dir=tmp_path / "cache")
    data = SynthAct("all", modalities=["skeleton"], cache_dir=tmp_path / "cache", **{k: getattr(cfg, k) for k in
                    ("subjects", "classes", "frames", "size", "repetitions", "second_person")})
    frames, bodies, ids, _ = _read_skeleton(tmp_path / "out" / "nturgb+d_skeletons" / f"{data.sample_id(0)}.skeleton")
    seen = np.abs(data[0]["skeleton"]).sum((0, 2, 3)) > 0
    assert data[0]["skeleton"].shape[0] == 2
    assert bodies == (2 * seen).tolist() and len(set(ids)) == 2
    ann = pickle.loads((tmp_path / "out" / "synthact_3danno.pkl").read_bytes())["annotations"][0]
    assert ann["keypoint"].shape == (2, 4, 25, 3)
