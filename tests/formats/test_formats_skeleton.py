"""NTU .skeleton parsing, body selection (energy, denoising) and every malformed-file error."""

import numpy as np
import pytest
from format_writers import BODY_ID, body_rows, one_body_frames, skeleton_text, standing_body, write_skeleton

from fusion.errors import DataError
from fusion_plugins.formats.bodies import select_bodies, skeleton_xyz
from fusion_plugins.formats.ntu import read_skeleton


def test_parse_counts_ids_and_values(tmp_path):
    xyz = standing_body(5)
    other = BODY_ID + 1  # equal to BODY_ID as a float64: only an integer parse keeps them apart
    frames = [[(BODY_ID, xyz[t]), (other, xyz[t] + 1.0)] for t in range(3)] + [[], [(BODY_ID, xyz[4])]]
    path = write_skeleton(tmp_path / "S001C001P001R001A001.skeleton", frames)
    assert len(path.read_text().splitlines()) == 1 + (1 + 2 * 27) * 3 + 1 + (1 + 27)
    parsed = read_skeleton(path)
    assert parsed.num_frames == 5
    assert [t.body_id for t in parsed.tracks] == [BODY_ID, other]
    assert parsed.bodies_per_frame.tolist() == [2, 2, 2, 0, 1]
    assert parsed.tracks[0].frames.tolist() == [0, 1, 2, 4]
    np.testing.assert_allclose(parsed.tracks[0].joints[3], body_rows(xyz[4]), rtol=1e-5)


def test_zero_body_frames_stay_zero_and_aligned(tmp_path):
    frames = one_body_frames(6)
    frames[2] = []
    path = write_skeleton(tmp_path / "a.skeleton", frames)
    parsed = read_skeleton(path)
    array = skeleton_xyz(select_bodies(parsed.tracks, 2), parsed.num_frames, 2)
    assert array.shape == (2, 6, 25, 3)
    assert not array[0, 2].any() and array[0, 1].any() and array[0, 3].any()
    assert not array[1].any()  # no second person


def test_crlf_and_trailing_spaces_are_accepted(tmp_path):
    text = skeleton_text(one_body_frames(3), newline=" \r\n")
    path = tmp_path / "crlf.skeleton"
    path.write_bytes(text.encode())
    assert read_skeleton(path).num_frames == 3


def test_four_bodies_reduced_to_two_most_active(tmp_path):
    amplitudes = {11: 0.01, 22: 0.30, 33: 0.05, 44: 0.20}
    bodies = {bid: standing_body(20, amp, x=k, seed=k) for k, (bid, amp) in enumerate(amplitudes.items())}
    frames = [[(bid, xyz[t]) for bid, xyz in bodies.items()] for t in range(20)]
    parsed = read_skeleton(write_skeleton(tmp_path / "four.skeleton", frames))
    slots = select_bodies(parsed.tracks, 2)
    assert [slot[0].body_id for slot in slots] == [22, 44]
    array = skeleton_xyz(slots, 20, 2)
    np.testing.assert_allclose(array[0], bodies[22].astype(np.float32), atol=1e-5)


def test_denoise_drops_short_and_spread_tracks_and_joins_reacquired(tmp_path):
    t = 40
    main = standing_body(t, 0.3)
    reacquired_a, reacquired_b = standing_body(t, 0.2, x=2.0, seed=1), standing_body(t, 0.2, x=2.0, seed=2)
    flat = standing_body(t, 0.25, x=-2.0, seed=3)
    flat[..., 0] = np.linspace(-3, 3, 25)[None] - 2.0  # x extent 6 m > 0.8 * y extent 1.6 m in every frame
    frames = []
    for k in range(t):
        bodies = [(1, main[k]), (4, flat[k])]
        bodies.append((2, reacquired_a[k]) if k < 20 else (3, reacquired_b[k]))  # one person, two IDs
        if k < 5:
            bodies.append((5, standing_body(t, 0.9, x=4.0, seed=5)[k]))  # 5 frames: too short
        frames.append(bodies)
    parsed = read_skeleton(write_skeleton(tmp_path / "noisy.skeleton", frames))
    slots = select_bodies(parsed.tracks, 2, denoise=True)
    assert [sorted(track.body_id for track in slot) for slot in slots] == [[1], [2, 3]]
    array = skeleton_xyz(slots, t, 2)
    assert array[1, :20].any() and array[1, 20:].any()  # the re-acquired person fills one slot
    energy_slots = select_bodies(parsed.tracks, 2)  # the plain rule is fooled by the spread-out noise body
    assert [slot[0].body_id for slot in energy_slots] == [4, 1]


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda lines: lines[:40], "truncated: expected"),
        (lambda lines: ["x"] + lines[1:], "line 1: expected the frame count"),
        (lambda lines: lines[:2] + ["abc 0 1 1 1 1 0 0.1 0.1 2"] + lines[3:], "an integer body ID"),
        (lambda lines: lines[:2] + ["1 2 3"] + lines[3:], "line 3: expected the 10-value body line"),
        (lambda lines: lines[:3] + ["24"] + lines[4:], "line 4: expected 25 joints for frame 1, body 1, got 24"),
        (lambda lines: lines[:4] + [" ".join(lines[4].split()[:11])] + lines[5:], "line 5: expected 12 numbers"),
        (lambda lines: lines[:4] + [lines[4].replace(lines[4].split()[0], "zz", 1)] + lines[5:], "line 5: expected 12"),
        (lambda lines: lines + ["1"], "expected the end of the file after 3 frames"),
        (lambda lines: lines[:1] + ["9"] + lines[2:], "a body count of frame 1 between 0 and 6"),
    ],
)
def test_malformed_files_name_file_line_and_problem(tmp_path, mutate, expected):
    lines = skeleton_text(one_body_frames(3)).splitlines()
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(mutate(lines)) + "\n")
    with pytest.raises(DataError, match="S001C001P001R001A001.skeleton") as info:
        read_skeleton(path)
    assert expected in str(info.value)


def test_wrong_joint_count_file_and_empty_and_binary(tmp_path):
    path = write_skeleton(tmp_path / "v20.skeleton", one_body_frames(2), joints=20)
    with pytest.raises(DataError, match="expected 25 joints for frame 1, body 1, got 20"):
        read_skeleton(path)
    empty = tmp_path / "empty.skeleton"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.skeleton: the file is empty"):
        read_skeleton(empty)
    binary = tmp_path / "bin.skeleton"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(DataError, match="bin.skeleton: not a text file"):
        read_skeleton(binary)
