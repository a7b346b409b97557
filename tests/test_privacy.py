import csv
import io

import pandas as pd
import pytest

from crmlib.errors import CrmError
from crmlib.privacy import (
    mask_email,
    mask_identifier,
    mask_name,
    mask_phone,
    mask_pii,
    mask_raw_line,
    neutralize_formulas,
    pii_kind,
    write_csv,
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_masks_by_hand():
    assert mask_name("Ada Lovelace") == "A*** L***"
    assert mask_name("王伟") == "王*"
    assert mask_email("ada@example.com") == "a***@example.com"
    assert mask_email("not-an-email") == "n***"
    assert mask_phone("+44 20 7946 0958") == "***58"
    assert mask_name(None) is None


def test_mask_pii_only_touches_pii_and_can_be_turned_off():
    df = pd.DataFrame({"name": ["Ada Lovelace"], "email": ["ada@example.com"], "revenue": [1.0]})
    masked = mask_pii(df)
    assert masked.loc[0, "name"] == "A*** L***"
    assert masked.loc[0, "revenue"] == 1.0
    assert mask_pii(df, enabled=False) is df


# --------------------------------------------------------------------------- header variants

NAME_HEADERS = [
    "Full Name",
    "full_name",
    "first_name",
    "last_name",
    "surname",
    "given name",
    "customer_name",
    "contact name",
]
EMAIL_HEADERS = ["E-Mail", "e_mail", "email_address", "mail", " Email.Address "]
PHONE_HEADERS = [
    "Phone Number",
    "phone_number",
    "mobile",
    "mobile phone",
    "telephone",
    "tel",
    "cell",
    "fax",
]
NOT_PERSONAL = [
    "campaign_name",
    "channel",
    "category",
    "product_name",
    "file_name",
    "_column",
    "segment_name",
    "region",
    "source",
    "mail_opened",
]


@pytest.mark.parametrize(
    ("header", "kind"),
    [(h, "name") for h in NAME_HEADERS]
    + [(h, "email") for h in EMAIL_HEADERS]
    + [(h, "phone") for h in PHONE_HEADERS]
    + [(h, None) for h in NOT_PERSONAL],
)
def test_pii_kind_knows_header_variants_and_look_alikes(header, kind):
    assert pii_kind(header) == kind


def test_mask_pii_masks_header_variants_and_leaves_look_alikes():
    df = pd.DataFrame(
        {
            "Full Name": ["Ada Lovelace"],
            "surname": ["Lovelace"],
            "E-Mail": ["ada@example.com"],
            "Phone Number": ["+44 20 7946 0958"],
            "mobile": ["07700 900123"],
            "campaign_name": ["Spring Sale"],
            "product_name": ["Blue Kettle"],
            "mail_opened": ["yes"],
        }
    )
    masked = mask_pii(df).iloc[0].to_dict()
    assert masked == {
        "Full Name": "A*** L***",
        "surname": "L***",
        "E-Mail": "a***@example.com",
        "Phone Number": "***58",
        "mobile": "***23",
        "campaign_name": "Spring Sale",
        "product_name": "Blue Kettle",
        "mail_opened": "yes",
    }


# --------------------------------------------------------------------------- identifiers


def test_mask_identifier_masks_emails_and_phones_only():
    assert mask_identifier("ada@example.com") == "a***@example.com"
    assert mask_identifier("+44 20 7946 0958") == "***58"
    assert mask_identifier("(020) 7946-0958") == "***58"
    # plain digit runs and codes are customer ids, not phones; dates are not phones
    assert mask_identifier("1000042") == "1000042"
    assert mask_identifier("C0000042") == "C0000042"
    assert mask_identifier("2024-01-05") == "2024-01-05"
    assert mask_identifier(1000042) == 1000042
    assert mask_identifier(None) is None


def test_mask_pii_masks_personal_ids_and_keeps_plain_ids():
    df = pd.DataFrame(
        {
            "customer_id": ["ada@example.com", "+44 20 7946 0958", "C0000042", "1000042"],
            "order_id": ["O1", "020-7946-0958", "O3", "O4"],
            "revenue": [1.0, 2.0, 3.0, 4.0],
        }
    )
    masked = mask_pii(df)
    assert masked.customer_id.tolist() == ["a***@example.com", "***58", "C0000042", "1000042"]
    assert masked.order_id.tolist() == ["O1", "***58", "O3", "O4"]
    assert masked.revenue.tolist() == [1.0, 2.0, 3.0, 4.0]


# --------------------------------------------------------------------------- formula prefixes


def test_masks_never_keep_a_formula_prefix_nor_the_whole_original():
    assert mask_name("=Name") == "****"
    assert mask_name('=HYPERLINK("http://x")') == "****"
    assert mask_name("@Ada +Lovelace") == "**** ****"
    assert mask_email("=cmd@example.com") == "****@example.com"
    assert mask_email("-x") == "****"
    # a one-character local part would be shown whole
    assert mask_email("a@example.com") == "***@example.com"
    assert mask_phone("12") == "***"
    for masked in (mask_name("=Name"), mask_email("+a@b.com"), mask_phone("-1 234 5678")):
        assert not masked.startswith(FORMULA_STARTS)


def test_neutralize_formulas_quotes_text_cells_and_headers_only():
    df = pd.DataFrame(
        {
            "text": ['=HYPERLINK("http://x")', "@SUM(A1)", "+cmd", "-2+3", "\tx", "\rx", "ok"],
            "amount": [-25.0] * 7,
            "=evil": ["a", "b", "c", "d", "e", "f", "g"],
        }
    )
    out = neutralize_formulas(df)
    assert out.text.tolist() == [
        '\'=HYPERLINK("http://x")',
        "'@SUM(A1)",
        "'+cmd",
        "'-2+3",
        "'\tx",
        "'\rx",
        "ok",
    ]
    assert out.amount.dtype == "float64" and out.amount.tolist() == [-25.0] * 7
    assert list(out.columns) == ["text", "amount", "'=evil"]
    assert df.text[0] == '=HYPERLINK("http://x")'  # the input is not changed


# --------------------------------------------------------------------------- CSV output


def test_write_csv_round_trip_has_no_formula_and_no_planted_pii(tmp_path):
    planted = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"}
    df = pd.DataFrame(
        {
            "customer_id": ["grace@example.org", "C0000042"],
            "Full Name": [planted["name"], '=HYPERLINK("http://x")'],
            "E-Mail": [planted["email"], "@SUM(A1)"],
            "mobile phone": [planted["phone"], "-2+3"],
            "note": ["+cmd", "\tx"],
            "amount": [-25.0, 3.5],
            "_text": ["C9,Grace Hopper,grace@example.org,+1 212 555 0100", None],
        }
    )
    path = tmp_path / "out" / "table.csv"
    assert write_csv(df, path) == 2
    text = path.read_text(encoding="utf-8")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "-25.0" in cells  # numbers are data, not formulas: they stay as they are
    assert not [c for c in cells if c.startswith(FORMULA_STARTS) and not _is_number(c)]
    for value in [*planted.values(), "grace@example.org", "Grace Hopper", "+1 212 555 0100"]:
        assert value not in text
    back = pd.read_csv(path)
    assert back.amount.tolist() == [-25.0, 3.5]
    assert back.note.tolist() == ["'+cmd", "'\tx"]


def test_write_csv_appends_batches_without_a_second_header(tmp_path):
    path = tmp_path / "batches.csv"
    assert write_csv(pd.DataFrame({"id": ["a"], "n": [1]}), path) == 1
    assert write_csv(pd.DataFrame({"id": ["b", "c"], "n": [2, 3]}), path, append=True) == 2
    assert path.read_text(encoding="utf-8").splitlines() == ["id,n", "a,1", "b,2", "c,3"]
    with pytest.raises(CrmError):
        write_csv(pd.DataFrame({"other": [1]}), path, append=True)
    # appending to a missing file starts it with its header
    fresh = tmp_path / "fresh.csv"
    write_csv(pd.DataFrame({"id": ["a"]}), fresh, append=True)
    assert fresh.read_text(encoding="utf-8").splitlines() == ["id", "a"]


def test_write_csv_can_leave_pii_unmasked_but_still_neutralises(tmp_path):
    path = tmp_path / "own.csv"
    write_csv(pd.DataFrame({"name": ["Ada Lovelace", "=1+1"]}), path, mask=False)
    assert path.read_text(encoding="utf-8").splitlines() == ["name", "Ada Lovelace", "'=1+1"]


# --------------------------------------------------------------------------- malformed lines


def test_mask_raw_line_keeps_no_planted_pii():
    line = "C1,Ada Lovelace,ada@example.com,+44 20 7946 0958,x"
    described = mask_raw_line(line)
    assert described == "[malformed line: 5 fields, 50 characters]"
    for value in ("Ada", "Lovelace", "ada@example.com", "7946", "C1"):
        assert value not in described
    assert mask_raw_line("a;b;c") == "[malformed line: 3 fields, 5 characters]"
    assert mask_raw_line(None) is None


def test_mask_pii_describes_the_raw_text_of_malformed_lines():
    df = pd.DataFrame({"_rule": ["malformed_line"], "_text": ["Ada Lovelace|ada@example.com"]})
    masked = mask_pii(df)
    assert masked._text.tolist() == ["[malformed line: 2 fields, 28 characters]"]
    assert masked._rule.tolist() == ["malformed_line"]
    assert mask_pii(df, enabled=False)._text.tolist() == ["Ada Lovelace|ada@example.com"]
