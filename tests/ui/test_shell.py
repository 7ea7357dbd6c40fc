"""The workbench shell: /ui is served with its security headers, a key signs in, the navigation shows the
screens of the key's role, and signing out forgets the key."""
from __future__ import annotations

import httpx

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def test_ui_page_and_its_files_carry_the_csp_and_need_no_key(live_server):
    for path, kind in (("/ui", "text/html"), ("/ui/", "text/html"), ("/ui/static/app.js", "text/javascript"),
                       ("/ui/static/app.css", "text/css"), ("/ui/static/check.js", "text/javascript")):
        response = httpx.get(live_server.url + path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind), path
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path


def test_unknown_or_escaping_static_names_are_404_problems(live_server):
    for name in ("nope.js", "..%2Fapp.py", "app.py", "%2E%2E"):
        response = httpx.get(f"{live_server.url}/ui/static/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-security-policy"] == CSP, name


def test_whoami_names_the_role_of_the_key_and_refuses_no_key(live_server):
    for role, secret in live_server.keys.items():
        body = httpx.get(live_server.url + "/v1/whoami", headers={"X-API-Key": secret}).json()
        assert body["role"] == role
        assert body["key_id"].startswith("key_")
    assert httpx.get(live_server.url + "/v1/whoami").status_code == 401


def test_coder_signs_in_and_sees_the_navigation_of_its_role(signed_in, console_errors, screenshot):
    page = signed_in("coder")

    nav = page.get_by_test_id("nav")
    assert [a.inner_text() for a in nav.locator("a").all()] == ["Check a claim", "Rules", "Dashboard"]
    assert page.url.endswith("/ui#/check")
    assert page.get_by_test_id("who").inner_text() == "signed in as coder"
    assert console_errors == []


def test_each_role_sees_only_the_screens_it_may_use(signed_in, page):
    expected = {"admin": ["Check a claim", "Rules", "Dashboard"],
                "compliance": ["Rules", "Dashboard"],
                "submitter": ["Check a claim", "Dashboard"]}
    for role, screens in expected.items():
        signed_in(role)
        assert [a.inner_text() for a in page.get_by_test_id("nav").locator("a").all()] == screens, role
        page.get_by_test_id("sign-out").click()


def test_a_wrong_key_is_refused_with_an_alert(page, live_server):
    page.goto(live_server.url + "/ui")
    page.get_by_label("API key").fill("not-a-key-at-all")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_test_id("sign-in-error")
    alert.wait_for(state="visible")
    assert alert.get_attribute("role") == "alert"
    assert alert.inner_text() == "This API key is unknown, revoked or expired."
    assert page.evaluate("sessionStorage.length") == 0


def test_sign_out_forgets_the_key(signed_in, page, live_server):
    signed_in("coder")
    assert page.evaluate("sessionStorage.getItem('scrubber.apiKey')") == live_server.keys["coder"]
    page.get_by_test_id("sign-out").click()

    page.get_by_test_id("sign-in").wait_for(state="visible")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("localStorage.length") == 0
    assert page.get_by_test_id("nav").is_hidden()
