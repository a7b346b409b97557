import pandas as pd

from crmlib.privacy import mask_email, mask_name, mask_phone, mask_pii


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
