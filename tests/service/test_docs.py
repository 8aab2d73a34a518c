"""The OpenAPI UI works on a machine that reaches no CDN: every script and style it loads is served here."""

from __future__ import annotations

import re


def test_docs_page_loads_only_local_assets(api):
    page = api.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", page.text)
    assert urls, "the page should reference its script, style and the OpenAPI document"
    remote = [u for u in urls if re.match(r"(https?:)?//", u)]
    assert not remote, f"/docs loads assets from another host: {remote}"
    for url in urls:
        served = api.get(url)
        assert served.status_code == 200, f"{url} -> {served.status_code}"
    assert api.get("/docs/assets/swagger-ui-bundle.js").text.lstrip().startswith(("/*", "!function"))


def test_oauth2_redirect_page_is_served(api):
    assert api.get("/docs/oauth2-redirect").status_code == 200
