import gzip
from pathlib import Path

import pytest

from rnnkit.text.readers import DataError, detect_format, read_labeled, read_lines

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def write(path: Path, text: str, encoding="utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_glue_tsv_with_space_before_tab(tmp_path):
    p = write(tmp_path / "train.tsv", "sentence\tlabel\nit 's a charmer , funny \t1\ndull \t0\n")
    data = read_labeled(p)
    assert data.texts == ["it 's a charmer , funny", "dull"]
    assert data.labels == ["1", "0"]


def test_tsv_with_chosen_columns_and_gzip(tmp_path):
    rows = "label\trating\tid\ttext\n1\t9\t0\tLoved it.\n0\t2\t1\tHated it.\n"
    p = tmp_path / "reviews.tsv.gz"
    p.write_bytes(gzip.compress(rows.encode()))
    data = read_labeled(p)  # columns guessed from the header names
    assert data.texts == ["Loved it.", "Hated it."] and data.labels == ["1", "0"]
    by_rating = read_labeled(p, text_column="text", label_column="rating")
    assert by_rating.labels == ["9", "2"]
    by_index = read_labeled(p, text_column=3, label_column=0)
    assert by_index.labels == ["1", "0"]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    p = tmp_path / "data.txt"
    p.write_bytes(gzip.compress(b"pos great film\nneg awful film\n"))
    assert read_labeled(p).labels == ["pos", "neg"]


def test_csv_with_quotes(tmp_path):
    p = write(
        tmp_path / "d.csv",
        'text,sentiment\n"Good, really good",positive\n"He said ""meh""",negative\n',
    )
    data = read_labeled(p)
    assert data.texts == ["Good, really good", 'He said "meh"']
    assert data.labels == ["positive", "negative"]


def test_missing_column_names_the_header(tmp_path):
    p = write(tmp_path / "d.tsv", "sentence\tlabel\nfine\t1\n")
    with pytest.raises(DataError, match=r"no column 'review'.*\['sentence', 'label'\]"):
        read_labeled(p, text_column="review")
    q = write(tmp_path / "e.tsv", "a\tb\nfine\t1\n")
    with pytest.raises(DataError, match="no text column found"):
        read_labeled(q)


def test_label_first_lines(tmp_path):
    p = write(
        tmp_path / "stsa.binary.train", "1 a stirring , funny film\n0 apparently reassembled .\n\n"
    )
    data = read_labeled(p)
    assert detect_format(p) == "label-first"
    assert data.labels == ["1", "0"] and data.texts[0] == "a stirring , funny film"


def test_fasttext_lines(tmp_path):
    p = write(tmp_path / "train.ft", "__label__pos  great fun\n__label__neg dull\n")
    data = read_labeled(p)
    assert detect_format(p) == "fasttext"
    assert data.labels == ["pos", "neg"] and data.texts == ["great fun", "dull"]


def test_folder_per_class_skips_unsup(tmp_path):
    for label, texts in {"pos": ["Great!", "Superb."], "neg": ["Awful."], "unsup": ["?"]}.items():
        (tmp_path / label).mkdir()
        for i, t in enumerate(texts):
            write(tmp_path / label / f"{i}_7.txt", t)
    (tmp_path / "urls_pos.txt").write_text("http://x\n")
    data = read_labeled(tmp_path)
    assert data.labels == ["neg", "pos", "pos"]
    assert data.texts == ["Awful.", "Great!", "Superb."]
    assert read_labeled(tmp_path, classes=["pos"]).labels == ["pos", "pos"]


def test_lines_split_on_newline_only_not_u0085(tmp_path):
    p = write(tmp_path / "d.tsv", "text\tlabel\nfirst\u0085still first\t1\nsecond\r\t0\n")
    data = read_labeled(p)
    assert data.texts == ["first\u0085still first", "second"]
    assert len(read_lines(p)) == 3


def test_latin1_needs_the_flag_and_the_error_names_the_line(tmp_path):
    p = write(tmp_path / "old.txt", "1 fine\n0 clich\xe9 after clich\xe9\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"line 2: not valid utf-8.*latin-1"):
        read_labeled(p)
    data = read_labeled(p, encoding="latin-1")
    assert data.texts[1] == "cliché after cliché"


@pytest.mark.parametrize(
    "name, content, where",
    [
        (
            "a.tsv",
            "sentence\tlabel\nok\t1\nno tab here\n",
            "line 3: expected 2 TSV fields, found 1",
        ),
        ("b.tsv", "sentence\tlabel\nok\t1\n\t0\n", "line 3: empty text"),
        ("c.txt", "1 good\n\n0\n", "line 3: expected '<label> <text>'"),
        ("d.ft", "__label__a good\nbad line\n", "line 2: expected '__label__<label> <text>'"),
        ("e.ft", "__label__a __label__b two labels\n", "line 1: several labels"),
    ],
)
def test_unparseable_lines_report_their_number(tmp_path, name, content, where):
    p = write(tmp_path / name, content)
    with pytest.raises(DataError, match=where):
        read_labeled(p)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_labeled(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="empty file"):
        read_labeled(write(tmp_path / "empty.tsv", ""))
    with pytest.raises(DataError, match="corrupt gzip"):
        read_labeled(write(tmp_path / "bad.tsv.gz", "\x1f\x8bnot really gzip", encoding="latin-1"))
    with pytest.raises(DataError, match="unknown data format"):
        read_labeled(write(tmp_path / "x.tsv", "a\tb\n"), format="xml")


@pytest.mark.skipif(not (SHARED / "imdb").is_dir(), reason="../shared/data/imdb not present")
def test_shared_imdb_keeps_u0085_inside_reviews():
    data = read_labeled(SHARED / "imdb" / "train.tsv.gz")
    assert len(data) == 25000
    assert data.label_counts() == {"0": 12500, "1": 12500}
    assert sum("\u0085" in t for t in data.texts) > 0


@pytest.mark.skipif(not (SHARED / "sst2").is_dir(), reason="../shared/data/sst2 not present")
def test_shared_sst2_files():
    dev = read_labeled(SHARED / "sst2" / "glue_dev.tsv")
    assert len(dev) == 872 and dev.label_counts() == {"0": 428, "1": 444}
    assert not any(t.endswith(" ") for t in dev.texts)
    stsa = read_labeled(SHARED / "sst2" / "stsa.binary.dev")
    assert len(stsa) == 872


def test_gzip_members_are_all_read_and_a_gzip_bomb_is_refused(tmp_path):
    from rnnkit.text import readers

    two = tmp_path / "two.txt.gz"
    two.write_bytes(gzip.compress(b"first line\n") + gzip.compress(b"second line\n"))
    assert readers.read_lines(two) == ["first line", "second line"]
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(gzip.compress(b"some text\n" * 100)[:-12])
    with pytest.raises(readers.DataError, match=r"cut\.txt\.gz: corrupt gzip data"):
        readers.read_text(cut)
    # 200 MB of zeros in ~200 KB: past 100x + 64 MB, refused while it grows (never held)
    bomb = tmp_path / "bomb.tsv.gz"
    bomb.write_bytes(gzip.compress(bytes(200 << 20), compresslevel=9))
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(readers.DataError, match=r"bomb\.tsv\.gz: gzip data expands past"):
        readers.read_text(bomb)
