"""Batch lists without a server: reading text, CSV and Parquet (local, http, s3), normalising
URLs, folding duplicates, rejecting bad rows with a reason; and the report files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reelflow.batch_input import (
    BatchRequest,
    normalise_url,
    plan_entries,
    read_list,
)
from reelflow.errors import InvalidRequest, SourceUnavailable, URLNotAllowed
from tests.helpers.servers import static_server

DEFAULTS = BatchRequest(url_list="unused", clips=2, min_seconds=20, max_seconds=40).defaults()

NORMALISED = [
    ("  HTTPS://Media.Example.ORG/Talk.mp4#t=30  ", "https://media.example.org/Talk.mp4"),
    ("http://example.org:80/a.mp4?sig=AbC&x=1", "http://example.org/a.mp4?sig=AbC&x=1"),
    ("https://example.org:8443/a.mp4", "https://example.org:8443/a.mp4"),
    ("https://example.org", "https://example.org/"),
    ("https://youtu.be/dQw4w9WgXcQ?si=tracking", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s",
     "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("http://YouTube.com/shorts/dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ?start=5",
     "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/live/dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("https://www.youtube.com/@somechannel/videos", "https://www.youtube.com/@somechannel/videos"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected"), NORMALISED, ids=[n[1][:40] for n in NORMALISED])
def test_normalise_url(raw, expected):
    assert normalise_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "Empty URL"),
        ("example.org/video.mp4", "missing scheme"),
        ("ftp://example.org/v.mp4", "'ftp:' is not allowed"),
        ("file:///etc/passwd", "'file:' is not allowed"),
        ("http://10.0.0.5/v.mp4", "private address"),
        ("http://127.0.0.1:8000/v.mp4", "loopback"),
        ("https://example.org/my video.mp4", "spaces"),
        ("https://user:secret@example.org/v.mp4", "user name or password"),
        ("https://", "names no host"),
    ],
    ids=["empty", "no-scheme", "ftp", "file", "private", "loopback", "space", "creds", "no-host"],
)
def test_bad_urls_are_refused_with_a_reason(raw, reason):
    with pytest.raises((URLNotAllowed, InvalidRequest), match=reason):
        normalise_url(raw)


def test_text_list_comments_duplicates_and_rejections(tmp_path):
    listing = tmp_path / "urls.txt"
    listing.write_text(
        "\ufeff# channel uploads\n"
        "\n"
        "https://youtu.be/dQw4w9WgXcQ\n"
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&feature=share   # same video\n"
        "   https://media.example.org/b.mp4#chapter-2\n"
        "not a url\n"
        "ftp://media.example.org/c.mp4\n"
        "HTTPS://MEDIA.EXAMPLE.ORG/b.mp4\n",
        encoding="utf-8",
    )
    frame = read_list(str(listing))
    assert list(frame["row"]) == [3, 4, 5, 6, 7, 8], "line numbers of the URL lines"
    entries = plan_entries(frame, DEFAULTS)
    by_row = {e.row: e for e in entries}
    assert by_row[3].request.source == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert by_row[4].duplicate_of == 3
    assert by_row[5].request.source == "https://media.example.org/b.mp4"
    assert by_row[8].duplicate_of == 5
    assert "spaces" in by_row[6].rejected
    assert "'ftp:' is not allowed" in by_row[7].rejected
    job = by_row[3].request
    assert (job.clips, job.min_seconds, job.max_seconds, job.provider) == (2, 20, 40, "local")
    assert by_row[6].url == "not a url", "the report shows a rejected row as written"


def test_csv_with_per_row_settings(tmp_path):
    listing = tmp_path / "catalogue.csv"
    listing.write_text(
        " URL ,Clips,min_seconds,max_seconds,provider,notes\n"
        "https://media.example.org/a.mp4,3,,,,first\n"
        "https://media.example.org/a.mp4,,,,,same video with the defaults: another job\n"
        "https://media.example.org/b.mp4,,15,25,GEMINI,\n"
        "https://media.example.org/c.mp4,99,,,,\n"
        "https://media.example.org/d.mp4,,50,30,,\n"
        "https://media.example.org/e.mp4,two,,,,\n"
        ",,,,,empty url\n"
        "https://media.example.org/a.mp4#x,3,,,,duplicate of row 2\n"
    )
    entries = {e.row: e for e in plan_entries(read_list(str(listing)), DEFAULTS)}
    assert sorted(entries) == list(range(2, 10)), "rows are CSV line numbers (header is line 1)"
    assert entries[2].request.clips == 3 and entries[2].request.min_seconds == 20
    assert entries[3].request.clips == 2 and entries[3].duplicate_of is None
    b = entries[4].request
    assert (b.min_seconds, b.max_seconds, b.provider, b.clips) == (15, 25, "gemini", 2)
    assert "clips" in entries[5].rejected and "15" in entries[5].rejected
    assert "min_seconds must be below max_seconds" in entries[6].rejected
    assert "clips" in entries[7].rejected and "integer" in entries[7].rejected
    assert entries[8].rejected == "Empty URL"
    assert entries[9].duplicate_of == 2


def test_parquet_with_per_row_settings(tmp_path):
    listing = tmp_path / "list.parquet"
    pd.DataFrame({
        "url": ["https://media.example.org/a.mp4", "gopher://x.example/", None,
                "https://youtu.be/dQw4w9WgXcQ"],
        "clips": [1, None, 2, 4],  # a gap makes pandas store floats: 1.0 must still be 1
        "max_seconds": [30.0, None, None, 45.5],
    }).to_parquet(listing)  # fmt: skip
    entries = plan_entries(read_list(str(listing)), DEFAULTS)
    assert [e.row for e in entries] == [1, 2, 3, 4]
    assert (entries[0].request.clips, entries[0].request.max_seconds) == (1, 30)
    assert "'gopher:' is not allowed" in entries[1].rejected
    assert entries[2].rejected == "Empty URL"
    assert entries[3].request.source == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert (entries[3].request.clips, entries[3].request.max_seconds) == (4, 45.5)


def test_format_can_be_forced_and_a_table_needs_a_url_column(tmp_path):
    listing = tmp_path / "export.dat"
    listing.write_text("link,clips\nhttps://media.example.org/a.mp4,1\n")
    with pytest.raises(InvalidRequest, match="no `url` column"):
        read_list(str(listing), "csv")
    assert list(read_list(str(listing))["url"]) == [
        "link,clips",
        "https://media.example.org/a.mp4,1",
    ], "auto reads an unknown extension as text (and then rejects those rows)"


def test_missing_or_unreadable_lists_fail_clearly(tmp_path):
    with pytest.raises(SourceUnavailable, match="Cannot read the list"):
        read_list(str(tmp_path / "nope.txt"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidRequest, match="not a readable parquet file"):
        read_list(str(tmp_path / "broken.parquet"))


def test_list_over_http_uses_the_url_policy(tmp_path, monkeypatch):
    from reelflow.settings import get_settings

    (tmp_path / "urls.csv").write_text("url\nhttps://media.example.org/a.mp4\n")
    with static_server(tmp_path) as base:
        with pytest.raises(URLNotAllowed, match="loopback"):
            read_list(f"{base}/urls.csv")
        monkeypatch.setenv("ALLOWED_URL_HOSTS", "127.0.0.1")
        monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")
        get_settings.cache_clear()
        try:
            assert list(read_list(f"{base}/urls.csv?v=2")["url"]) == [
                "https://media.example.org/a.mp4"
            ]
            with pytest.raises(SourceUnavailable, match="HTTP 404"):
                read_list(f"{base}/missing.txt")
        finally:
            monkeypatch.delenv("ALLOWED_URL_HOSTS")
            monkeypatch.delenv("ALLOW_PRIVATE_URLS")
            get_settings.cache_clear()


def test_list_from_s3(monkeypatch):
    moto = pytest.importorskip("moto")
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("S3_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="lists")
        s3.put_object(Bucket="lists", Key="weekly/urls.csv",
                      Body=b"url,clips\nhttps://media.example.org/a.mp4,2\n")  # fmt: skip
        frame = read_list("s3://lists/weekly/urls.csv")
        assert frame.to_dict("records") == [
            {"row": 2, "url": "https://media.example.org/a.mp4", "clips": "2"}
        ]
        with pytest.raises(SourceUnavailable, match="NoSuchKey"):
            read_list("s3://lists/missing.txt")
    with pytest.raises(InvalidRequest, match="not s3://bucket/key"):
        read_list("s3://just-a-bucket")


def test_report_files_round_trip(tmp_path):
    from flows.batch import REPORT_COLUMNS, summarise, write_report

    rows = [
        {"row": 3, "url": "https://a.example/v.mp4", "job_id": "j1", "status": "completed",
         "clips": 2, "best_score": 71.5, "error": None, "duration_s": 31.2},
        {"row": 4, "url": "nope", "job_id": None, "status": "rejected", "clips": None,
         "best_score": None, "error": "Refused URL: a missing scheme", "duration_s": None},
    ]  # fmt: skip
    folder = write_report(rows, tmp_path / "batches" / "b1")
    for frame in (pd.read_csv(folder / "report.csv"), pd.read_parquet(folder / "report.parquet")):
        assert list(frame.columns) == REPORT_COLUMNS
        assert list(frame["status"]) == ["completed", "rejected"]
        assert frame["clips"].iloc[0] == 2 and pd.isna(frame["clips"].iloc[1])
        assert frame["error"].iloc[1] == "Refused URL: a missing scheme"
    assert not list(folder.glob(".*.tmp"))
    assert summarise(rows) == "2 rows: 1 completed, 1 rejected"


def test_cli_batch_without_a_service_says_so(capsys, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from reelflow.cli import main

    (tmp_path / "urls.txt").write_text("https://media.example.org/a.mp4\n")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["batch", str(tmp_path / "urls.txt")]) == 1
    assert "make up" in capsys.readouterr().err


def test_blank_and_comment_only_list_is_empty(tmp_path: Path):
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing yet\n\n   \n")
    assert plan_entries(read_list(str(listing)), DEFAULTS) == []
