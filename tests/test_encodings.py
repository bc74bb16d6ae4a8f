"""Lists in legacy encodings: detected (or plainly guessed), overridable, never silent mojibake.

Each test writes a list of realistic names in one encoding, runs presend (syntax level) and
compares the cells in results.csv and clean.csv with what was written.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.errors import InputError, UsageError
from pipeline.io.charsets import LABELS, canonical_encoding, guess_legacy
from pipeline.io.ingest import open_table
from pipeline.io.pieces import cut_as_bytes
from pipeline.options import DnsOptions, RunOptions
from pipeline.run import RunResult, run

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()

RUSSIAN = [
    ("Иван Петров", "Москва"), ("Мария Смирнова", "Санкт-Петербург"), ("Алексей Кузнецов", "Новосибирск"),
    ("Ольга Попова", "Екатеринбург"), ("Дмитрий Соколов", "Казань"), ("Елена Лебедева", "Нижний Новгород"),
    ("Сергей Козлов", "Самара"), ("Наталья Новикова", "Омск"), ("Юлия Фёдорова", "Ростов-на-Дону"),
    ("Татьяна Волкова", "Уфа"),
]
CENTRAL = [
    ("Jiří Dvořák", "Praha"), ("Zuzana Nováková", "Brno"), ("Petr Černý", "Ostrava"),
    ("Václav Šťastný", "Plzeň"), ("Kateřina Kučerová", "České Budějovice"), ("Paweł Wiśniewski", "Kraków"),
    ("Małgorzata Wójcik", "Łódź"), ("Łukasz Kamiński", "Wrocław"), ("Joanna Dąbrowska", "Poznań"),
    ("Żaneta Jabłońska", "Gdańsk"),
]
GREEK = [
    ("Γιώργος Παπαδόπουλος", "Αθήνα"), ("Μαρία Κωνσταντίνου", "Θεσσαλονίκη"), ("Νίκος Αλεξίου", "Πάτρα"),
    ("Ελένη Γεωργίου", "Ηράκλειο"), ("Δημήτρης Νικολάου", "Λάρισα"), ("Αικατερίνη Ιωάννου", "Βόλος"),
    ("Κώστας Βασιλείου", "Ιωάννινα"), ("Σοφία Αθανασίου", "Χανιά"),
]
WESTERN = [
    ("Jürgen Müller", "Köln"), ("Hélène Lefèvre", "Orléans"), ("François Dupont", "Besançon"),
    ("Zoë Renée", "Nîmes"), ("Amélie Poulain", "Montréal"), ("José Núñez", "Málaga"),
    ("Åsa Ångström", "Umeå"), ("Björn Größ", "München"), ("Cécile Bérénice", "Zürich"),
    ("Noël Gaëtan", "Besançon"),
]
JAPANESE = [
    ("山田太郎", "東京都"), ("佐藤花子", "大阪府"), ("鈴木一郎", "京都市"), ("高橋美咲", "札幌市"),
    ("田中健太", "横浜市"), ("伊藤さくら", "名古屋市"), ("渡辺翔太", "福岡市"), ("中村あおい", "神戸市"),
]
CHINESE = [
    ("张伟", "北京"), ("王芳", "上海"), ("李娜", "广州"), ("刘洋", "深圳"), ("陈静", "成都"),
    ("杨磊", "杭州"), ("赵敏", "武汉"), ("黄晓明", "南京"),
]
KOREAN = [
    ("김민준", "서울"), ("이서연", "부산"), ("박지훈", "인천"), ("최수아", "대구"), ("정우진", "대전"),
    ("강하은", "광주"), ("조현우", "울산"), ("윤지민", "수원"),
]

# (encoding written, names, encoding presend reads it with)
CASES = [
    ("cp1251", RUSSIAN, "cp1251"),
    ("koi8-r", RUSSIAN, "koi8-r"),
    ("cp1250", CENTRAL, "cp1250"),
    ("iso-8859-2", CENTRAL, "iso8859-2"),
    ("cp1253", GREEK, "cp1253"),
    ("mac-roman", [*WESTERN, ("Jérôme Bœuf", "Nancy")], "mac-roman"),
    ("cp850", WESTERN, "cp850"),
    ("shift_jis", JAPANESE, "cp932"),  # read as Windows' superset of Shift-JIS
    ("gb18030", CHINESE, "gb18030"),
    ("euc-kr", KOREAN, "cp949"),  # read as Windows' superset of EUC-KR
    ("cp1252", WESTERN, "cp1252"),
]


def _rows(names: list[tuple[str, str]]) -> list[list[str]]:
    return [[name, f"contact{i}@acme-co.com", city] for i, (name, city) in enumerate(names)]


def _write(path: Path, rows: list[list[str]], encoding: str, delimiter: str = ",") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([["Name", "Email", "City"], *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _run(path: Path, out: Path, **extra: object) -> RunResult:
    return run(RunOptions(input=path, out_dir=out, dns=DnsOptions(enabled=False), **extra))  # type: ignore[arg-type]


def _read(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


@pytest.mark.parametrize(("written", "names", "read"), CASES, ids=[case[0] for case in CASES])
def test_legacy_encodings_come_back_right_and_say_they_were_guessed(
    tmp_path: Path, written: str, names: list[tuple[str, str]], read: str
) -> None:
    rows = _rows(names)
    source = _write(tmp_path / "list.csv", rows, written)
    result = _run(source, tmp_path / "out")
    assert (result.summary["input"]["encoding"], result.summary["input"]["encoding_guessed"]) == (read, True)
    assert any(f"read as {LABELS[read]}, a guess" in note and "--encoding NAME" in note for note in result.notes)
    results = _read(result.paths["results"])
    assert [row[:3] for row in results[1:]] == rows  # every cell, character for character
    assert _read(result.paths["clean"]) == [["Name", "Email", "City"], *rows]
    assert result.paths["results"].read_bytes().startswith(b"\xef\xbb\xbf")  # outputs are UTF-8 (with a BOM)
    summary = json.loads(result.paths["summary"].read_text(encoding="utf-8"))
    assert summary["input"]["encoding"] == read and summary["input"]["encoding_guessed"] is True


def test_the_sample_cp1252_list_reads_as_before(tmp_path: Path) -> None:
    source = REPO / "sample_lists" / "excel_semicolon_cp1252.csv"
    expected = list(csv.reader(io.StringIO(source.read_bytes().decode("cp1252"), newline=""), delimiter=";"))
    result = _run(source, tmp_path / "out")
    assert result.summary["input"]["encoding"] == "cp1252"
    results = _read(result.paths["results"], ";")
    assert results[0][: len(expected[0])] == expected[0]
    for written, got in zip(expected[1:], results[1:], strict=True):
        assert got[: len(written)] == written
    assert "Müller & Söhne" in {row[3] for row in results}


def test_an_unsure_guess_is_said_and_encoding_fixes_it(tmp_path: Path) -> None:
    # One Polish name is not enough to tell Windows-1250 from -1252: its bytes read as a
    # plausible Western name too. presend says it guessed, and names the likely fix.
    rows = [["Paweł Wiśniewski", "pawel@acme-co.com", "Kraków"]]
    source = _write(tmp_path / "one.csv", rows, "cp1250")
    guessed = _run(source, tmp_path / "guessed")
    assert guessed.summary["input"]["encoding"] == "cp1252"
    assert guessed.summary["input"]["encoding_guessed"] is True
    assert any("a guess" in note and "(perhaps --encoding cp1250)" in note for note in guessed.notes)
    assert _read(guessed.paths["clean"])[1][0] == "Pawe³ Wiœniewski"  # what the guess reads

    done = runner.invoke(app, ["clean", str(source), "--no-dns", "-q", "--out", str(tmp_path / "fixed"),
                               "--encoding", "Windows-1250"])
    assert done.exit_code == 0, done.output
    assert _read(tmp_path / "fixed" / "one.clean.csv")[1:] == rows
    summary = json.loads((tmp_path / "fixed" / "one.summary.json").read_text(encoding="utf-8"))
    assert (summary["input"]["encoding"], summary["input"]["encoding_guessed"]) == ("cp1250", False)
    assert summary["options"]["encoding"] == "cp1250"
    assert not any("a guess" in note for note in summary["notes"])


def test_encoding_in_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(RUSSIAN[:2])
    _write(tmp_path / "list.csv", rows, "koi8-r")
    (tmp_path / "presend.toml").write_text('encoding = "koi8_r"\nout = "out"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(app, ["clean", "list.csv", "--no-dns", "-q"])
    assert done.exit_code == 0, done.output
    assert _read(tmp_path / "out" / "list.clean.csv")[1:] == rows
    # The command line wins over the file.
    wrong = runner.invoke(app, ["clean", "list.csv", "--no-dns", "-q", "--encoding", "cp1251", "--out", "other"])
    assert wrong.exit_code == 0
    assert _read(tmp_path / "other" / "list.clean.csv")[1][0] != rows[0][0]


@pytest.mark.parametrize("name", ["nope", "base64", "rot13", ""])
def test_an_unknown_encoding_is_a_one_line_usage_error(tmp_path: Path, name: str) -> None:
    source = _write(tmp_path / "list.csv", _rows(WESTERN[:2]), "utf-8")
    done = runner.invoke(app, ["clean", str(source), "--no-dns", "--encoding", name])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"presend: error: --encoding: {name!r} is not a text encoding")
    assert not (tmp_path / "list.results.csv").exists()
    with pytest.raises(UsageError, match="--encoding"):
        open_table(source, encoding=name)


def test_named_encodings_keep_a_byte_order_mark_out_of_the_header(tmp_path: Path) -> None:
    source = tmp_path / "bom.csv"
    source.write_bytes(b"\xef\xbb\xbfName,Email\r\nZo\xc3\xab,zoe@acme-co.com\r\n")
    with open_table(source, encoding="utf8") as table:
        assert table.info.header == ("Name", "Email") and table.info.encoding == "utf-8-sig"
    wide = tmp_path / "wide.txt"
    wide.write_bytes("Name\tEmail\r\nZoë\tzoe@acme-co.com\r\n".encode("utf-16"))
    order = "utf-16-le" if wide.read_bytes()[:2] == b"\xff\xfe" else "utf-16-be"
    with open_table(wide, encoding=order) as table:
        assert table.info.header == ("Name", "Email")
        assert [r.cells for r in table.rows()] == [("Zoë", "zoe@acme-co.com")]


def test_a_broken_multi_byte_character_is_reported_with_its_line(tmp_path: Path) -> None:
    # Past the sample, so the guess is made on good lines; both the one-process path and the
    # workers (which get Shift-JIS as text, cut by the reading process) name the same line.
    rows = _rows(JAPANESE * 1200)
    source = _write(tmp_path / "late.csv", rows, "shift_jis")
    assert source.stat().st_size > 256 * 1024
    line = len(rows) + 2
    source.write_bytes(source.read_bytes() + "佐藤,bad@acme-co.com,".encode("shift_jis") + b"\x81\x20\r\n")
    for workers in (1, 2):
        with pytest.raises(InputError, match=rf"late\.csv: line {line}: bytes that are not valid cp932; .*--encoding"):
            _run(source, tmp_path / f"out{workers}", workers=workers)


@pytest.mark.parametrize(
    ("encoding", "as_bytes"),
    [("utf-8", True), ("utf-8-sig", True), ("cp1252", True), ("cp1251", True), ("koi8-r", True),
     ("iso8859-2", True), ("mac-roman", True), ("cp850", True), ("iso8859-1", True),
     ("cp932", False), ("gb18030", False), ("cp949", False), ("utf-16", False), ("utf-32", False),
     ("cp037", False)],  # EBCDIC: its line end is not the byte LF
)
def test_which_encodings_are_cut_as_bytes(encoding: str, as_bytes: bool) -> None:
    assert cut_as_bytes(encoding) is as_bytes


def test_canonical_names() -> None:
    assert [canonical_encoding(n) for n in ("UTF8", "ISO-8859-2", "koi8_r", "Shift-JIS", "latin-1")] == [
        "utf-8", "iso8859-2", "koi8-r", "shift_jis", "iso8859-1"
    ]


def test_a_guess_names_the_next_most_likely_encoding() -> None:
    data = "\r\n".join(f"{name},{city}" for name, city in RUSSIAN).encode("koi8-r")
    guess = guess_legacy(data, truncated=False)
    assert (guess.encoding, guess.guessed) == ("koi8-r", True)
    assert guess.runner_up and guess.runner_up != "koi8-r"
    assert data.decode(guess.runner_up) != data.decode("koi8-r")


@pytest.mark.parametrize("encoding", ["cp932", "gb18030", "cp949"])
def test_multi_byte_encodings_never_put_a_line_end_inside_a_character(encoding: str) -> None:
    # What pipeline.io.pieces.cut_as_bytes says of them: a cut at CR or LF would fall between
    # characters; they are cut as text only because their decoders are strict.
    inside = []
    for code in range(0x80, 0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        try:
            data = chr(code).encode(encoding)
        except UnicodeEncodeError:
            continue
        if b"\n" in data or b"\r" in data:
            inside.append(chr(code))
    assert inside == []
