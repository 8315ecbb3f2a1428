"""Bin quotas: bins and kept requests per user and per site, with the setting named."""

from __future__ import annotations

from tabhooks.inbox.quotas import BinQuotas, Held, refusal

QUOTAS = BinQuotas(bins_per_user=3, bins_per_site=5, requests_per_user=1000, requests_per_site=1500)


def test_a_bin_that_fits_every_quota_is_allowed() -> None:
    assert (
        refusal(QUOTAS, site=Held(4, 1000), user=Held(2, 500), new_bins=1, new_requests=500) is None
    )


def test_the_users_bin_count_is_checked_before_the_sites() -> None:
    why = refusal(QUOTAS, site=Held(5, 0), user=Held(3, 0), new_bins=1, new_requests=1)
    assert why is not None and "TABHOOKS_INBOX_MAX_BINS_PER_USER=3" in why


def test_the_sites_bin_count() -> None:
    why = refusal(QUOTAS, site=Held(5, 0), user=Held(0, 0), new_bins=1, new_requests=1)
    assert why is not None and "TABHOOKS_INBOX_MAX_BINS_PER_SITE=5" in why


def test_kept_requests_say_how_many_would_fit() -> None:
    why = refusal(QUOTAS, site=Held(1, 900), user=Held(1, 900), new_bins=1, new_requests=101)
    assert why is not None
    assert "TABHOOKS_INBOX_MAX_REQUESTS_PER_USER" in why and "at most 100 does" in why
    why = refusal(QUOTAS, site=Held(2, 1400), user=Held(0, 0), new_bins=1, new_requests=101)
    assert why is not None and "TABHOOKS_INBOX_MAX_REQUESTS_PER_SITE" in why


def test_changing_a_bin_adds_no_bin_and_a_bin_without_creator_counts_for_the_site_only() -> None:
    assert refusal(QUOTAS, site=Held(5, 0), user=Held(3, 0), new_bins=0, new_requests=10) is None
    assert refusal(QUOTAS, site=Held(5, 0), user=None, new_bins=0, new_requests=1000) is None
    why = refusal(QUOTAS, site=Held(5, 600), user=None, new_bins=0, new_requests=1000)
    assert why is not None and "PER_SITE" in why
