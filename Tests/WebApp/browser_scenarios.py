#!/usr/bin/env python3
"""Drives Debian's chromium (headless, through Selenium and the system chromedriver)
through the web app example, for the web app tests. It observes and reports; the Swift
tests assert.

Usage: browser_scenarios.py SCENARIO CONFIG_JSON

CONFIG_JSON: {"idp": "http://127.0.0.1:PORT", "web": ["http://localhost:PORT", ...]}

Scenarios (each prints one JSON object on stdout):
  two-users   ann and bob sign in through the sign-in page in two browser contexts at
              once, reload, open /sensitive (bob: a step-up claims challenge), and ann
              signs out while bob keeps browsing.
  instances   a user signs in through web[0], is served by web[1], signs out through
              web[1]; then web[0] is asked again with the old session cookie.
  rotation    after a sign-in, threads keep asking both instances for the page with the
              session cookie while access tokens expire every few seconds.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

USERS = {"ann": ("ann@contoso.example", "pw-ann-1"), "bob": ("bob@contoso.example", "pw-bob-1")}


def browser():
    """A new headless chromium with its own profile (its own cookies): a browser context."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    return driver


def requests_log(config):
    with urllib.request.urlopen(config["idp"] + "/_control/requests", timeout=30) as answer:
        return json.load(answer)


def token_requests(config):
    return [r for r in requests_log(config) if r.get("endpoint") == "token"]


def text(driver, element_id):
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else None


def page(driver):
    return {"url": driver.current_url, "user": text(driver, "user"), "api": text(driver, "api"), "title": driver.title}


def sign_in(driver, web, user):
    """Opens the app, follows its sign-in link and fills in the provider's page."""
    driver.get(web + "/")
    driver.find_element(By.ID, "signin").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "username"))
    driver.find_element(By.ID, "username").send_keys(USERS[user][0])
    driver.find_element(By.ID, "password").send_keys(USERS[user][1])
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 30).until(lambda d: d.current_url.startswith(web) and d.find_elements(By.ID, "user"))
    return page(driver)


def visit(driver, url):
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "user") or d.find_elements(By.ID, "message"))
    return page(driver)


def two_users(config):
    web = config["web"][0]
    report = {}
    ann, bob = browser(), browser()
    try:
        report["ann_signed_in"] = sign_in(ann, web, "ann")
        report["bob_signed_in"] = sign_in(bob, web, "bob")
        before = len(token_requests(config))
        report["ann_reload"] = visit(ann, web + "/")
        report["bob_reload"] = visit(bob, web + "/")
        report["token_requests_during_reloads"] = len(token_requests(config)) - before
        report["bob_sensitive"] = visit(bob, web + "/sensitive")
        report["authorize_claims"] = [r.get("claims") for r in requests_log(config) if r.get("endpoint") == "authorize"]
        report["ann_signed_out"] = visit(ann, web + "/signout")
        report["logouts"] = sum(1 for r in requests_log(config) if r.get("endpoint") == "logout")
        before = len(token_requests(config))
        report["bob_after_ann_signed_out"] = visit(bob, web + "/")
        report["token_requests_after_sign_out"] = len(token_requests(config)) - before
        report["ann_after_sign_out"] = visit(ann, web + "/")
    finally:
        ann.quit()
        bob.quit()
    return report


def get(url, cookie):
    """GET url with the session cookie, without following redirects: (status, body)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with opener.open(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location") or ""


def session_cookie(driver):
    cookie = driver.get_cookie("msal_session")
    return f"msal_session={cookie['value']}" if cookie else ""


def instances(config):
    first, second = config["web"][:2]
    report = {}
    driver = browser()
    try:
        report["signed_in_through_first"] = sign_in(driver, first, "ann")
        cookie = session_cookie(driver)
        before = len(token_requests(config))
        report["second"] = visit(driver, second + "/")
        report["token_requests_on_second"] = len(token_requests(config)) - before
        report["first_with_cookie_before"] = get(first + "/", cookie)[0]
        report["signed_out_through_second"] = visit(driver, second + "/signout")
        report["first_with_old_cookie"] = get(first + "/", cookie)
        report["first_in_browser"] = visit(driver, first + "/")
    finally:
        driver.quit()
    return report


def rotation(config):
    first, second = config["web"][:2]
    driver = browser()
    try:
        sign_in(driver, first, "bob")
        cookie = session_cookie(driver)
    finally:
        driver.quit()
    seconds = config.get("seconds", 12)
    results = []
    lock = threading.Lock()

    def worker(web):
        deadline = time.time() + seconds
        while time.time() < deadline:
            status, body = get(web + "/", cookie)
            with lock:
                results.append({"status": status, "served": status == 200 and "bob@contoso.example" in body and "downstream data" in body,
                                "detail": "" if status == 200 else body[:200]})
    threads = [threading.Thread(target=worker, args=(web,)) for web in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refreshes = [r for r in token_requests(config) if r.get("grant_type") == "refresh_token"]
    return {"requests": len(results), "served": sum(1 for r in results if r["served"]),
            "failures": [r for r in results if not r["served"]][:5],
            "refreshes": len(refreshes), "refused_refreshes": sum(1 for r in refreshes if r.get("status") != "200")}


def main():
    scenario, config = sys.argv[1], json.loads(sys.argv[2])
    run = {"two-users": two_users, "instances": instances, "rotation": rotation}[scenario]
    print(json.dumps(run(config)))


if __name__ == "__main__":
    main()
