"""The documented recipes, recomputed in PostgreSQL with pgcrypto, give exactly the Python values.

The FHIR service rebuilds pseudonyms and resource ids in SQL; this pins the recipes it relies on.
"""

import pytest

from workbench.clinical import generate_cohort, observation_resources, pseudonymize

KEY = b"sql twin key: thirty-two bytes at least"
UUID_CUT = "substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || substr({h}, 17, 4) || '-' || substr({h}, 21, 12)"


@pytest.mark.postgres
def test_pseudonym_and_observation_ids_match_pgcrypto(postgres_url):
    import psycopg

    rows = generate_cohort(n_patients=3, seed=2).head(4).to_dicts()
    pseudonym_sql = UUID_CUT.format(h="encode(hmac(convert_to(%(id)s, 'UTF8'), %(key)s, 'sha256'), 'hex')")
    t = """to_char(%(at)s::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS') || '+08:00'"""
    obs_sql = UUID_CUT.format(h=f"encode(digest(%(p)s || '|' || {t} || '|' || %(code)s, 'sha256'), 'hex')")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        for row in rows:
            p = conn.execute(f"SELECT {pseudonym_sql}", {"id": row["national_id"], "key": KEY}).fetchone()[0]
            assert p == pseudonymize(row["national_id"], KEY)
            for obs in observation_resources(row, KEY):
                code = obs["code"]["coding"][0]["code"]
                sql_id = conn.execute(f"SELECT {obs_sql}", {"p": p, "at": row["measured_at"], "code": code}).fetchone()[0]
                assert sql_id == obs["id"]
