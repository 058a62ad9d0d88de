"""The Sluice Console driven in headless Chromium against a real `sluice serve` (run.sh starts it).

Each check is a step of one story: an approver signs in, sees items arrive (and one escalate) live
and approves one with a keyboard shortcut; a second reviewer without JavaScript loses the race; an
operator watches the instance continue on its page across a dropped connection (the stream resumes
with Last-Event-ID, no event twice), compares two checkpoints and restores one. A screenshot of each
page is written to --shots. Prints "N passed, N failed" and exits non-zero on any failure.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--base", required=True)
parser.add_argument("--admin-key", required=True)
parser.add_argument("--approver-key", required=True)
parser.add_argument("--shots", required=True)
args = parser.parse_args()
BASE = args.base
RUN = str(int(time.time() * 1000))  # ids unique to this run
XSS = "<script>window.__xss = 1</script><img src=x onerror=window.__xss=2>"


def api(method, path, body=None, key=None):
    """One call to the JSON API with the admin key; returns (status, json)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + (key or args.admin_key))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_api(path, condition, timeout=15):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = api("GET", path)[1]
        if condition(last):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached the expected condition; last: {json.dumps(last)[:400]}")


class DroppableProxy:
    """A TCP forwarder on loopback in front of the server whose open connections can be cut at
    once: a network drop, as the browser sees it (new connections are still accepted)."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.open = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        with self.lock:
            cut, self.open = self.open, []
        for end in cut:
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass

    def close(self):
        self.listener.close()
        self.drop()


def browser(javascript=True):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    return driver


def shot(driver, name):
    path = os.path.join(args.shots, name)
    driver.save_screenshot(path)
    print(f"  screenshot {path}")


def wait(driver, condition, timeout=15):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def sign_in(driver, key):
    driver.get(BASE + "/console/sign-in")
    field = driver.find_element(By.ID, "key")
    field.send_keys(key)
    field.submit()


def sign_out(driver):
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/sign-out'] button").click()
    wait(driver, EC.url_contains("/console/sign-in"))


SEQUENCE = {
    "id": f"console-expense-{RUN}", "name": "Expense approval",
    "blocks": [
        {"id": "prepare", "type": "step", "handler": "set_context", "params": {"prepared": True}},
        {"id": "manager-review", "type": "human_input",
         "prompt": "Approve expense of ${{context.amount}} for {{context.purpose}}?",
         "choices": [{"label": "Approve", "value": "approved"}, {"label": "Reject", "value": "rejected"}],
         "store_as": "decision", "timeout_seconds": 86400},
        {"id": "settle", "type": "step", "handler": "sleep", "params": {"ms": 4000}},
        {"id": "pay", "type": "step", "handler": "set_context", "params": {"paid": True}},
    ],
}


# A gate due after one second whose deadline escalates to a built-in handler (run by a sweeper):
# the item stays, marked escalated.
ESCALATING = {
    "id": f"console-escalating-{RUN}", "name": "Taxi receipts",
    "blocks": [{"id": "review", "type": "human_input", "prompt": "Refund {{context.purpose}}?",
                "timeout_seconds": 1, "escalation_handler": "noop"}],
}


def create_instance(name, purpose):
    instance_id = f"{name}-{RUN}"
    status, body = api("POST", "/instances", {
        "sequence_id": SEQUENCE["id"], "id": instance_id, "tenant_id": "acme", "namespace": "finance",
        "context": {"amount": 2500, "purpose": purpose}, "metadata": {"requester": "alice@company.com", "cost_center": "Q1-42"},
    })
    assert status == 201, (status, body)
    return instance_id


state = {}
steps = []


def step(function):
    steps.append(function)
    return function


@step
def sign_in_refuses_a_wrong_key_and_lands_an_approver_on_the_inbox():
    status, body = api("POST", "/sequences", SEQUENCE)
    assert status in (200, 201), (status, body)
    driver = state["driver"]
    driver.get(BASE + "/console/approvals")
    wait(driver, EC.url_contains("/console/sign-in"))  # not signed in: sent to the form
    shot(driver, "01-sign-in.png")
    sign_in(driver, "not-a-key-" + RUN)
    error = wait(driver, EC.visibility_of_element_located((By.ID, "sign-in-error")))
    assert "not known" in error.text, error.text
    shot(driver, "02-sign-in-refused.png")
    sign_in(driver, args.approver_key)
    wait(driver, EC.url_contains("/console/approvals"))
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies["sluice_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console", session
    assert args.approver_key not in driver.current_url and args.approver_key not in driver.page_source
    assert driver.execute_script("return document.cookie") == "", "the session cookie must not be readable by scripts"
    assert driver.execute_script("return window.localStorage.length") == 0
    # An approver sees the inbox only.
    assert "alice-key (approver)" in driver.find_element(By.ID, "who").text
    assert not driver.find_elements(By.CSS_SELECTOR, "nav a[href='/console/instances']")
    driver.get(BASE + "/console/instances")
    assert "403" in driver.find_element(By.TAG_NAME, "h1").text
    driver.get(BASE + "/console/approvals")


@step
def items_arrive_and_escalate_live_in_deadline_order():
    driver = state["driver"]
    wait(driver, lambda d: "Live" in d.find_element(By.ID, "live-status").text)
    driver.execute_script("window.__sameDocument = true")  # gone if the page reloads
    state["a"] = create_instance("exp-a", "Q1 marketing " + XSS)
    item = wait(driver, EC.presence_of_element_located((By.ID, "item-" + state["a"])))
    prompt = item.find_element(By.CLASS_NAME, "prompt").text
    assert prompt == "Approve expense of $2500 for Q1 marketing " + XSS + "?", prompt
    assert driver.execute_script("return window.__xss") is None, "the prompt's markup ran"
    assert "requester" in item.text and "alice@company.com" in item.text
    countdown = item.find_element(By.CLASS_NAME, "countdown").text
    assert countdown.startswith("in 23 h") or countdown.startswith("in 1 d"), countdown
    assert driver.execute_script("return window.__sameDocument") is True, "the page reloaded"
    shot(driver, "03-inbox-live-item.png")
    # An item due in a second: placed before the one due tomorrow, then escalated live.
    status, body = api("POST", "/sequences", ESCALATING)
    assert status in (200, 201), (status, body)
    state["esc"] = f"exp-esc-{RUN}"
    status, body = api("POST", "/instances", {"sequence_id": ESCALATING["id"], "id": state["esc"], "tenant_id": "acme",
                                              "context": {"purpose": "a late taxi"}})
    assert status == 201, (status, body)
    escalated = wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, f"#item-{state['esc']} .escalation")), timeout=20)
    assert escalated.text == "escalated"
    order = [li.get_attribute("id") for li in driver.find_elements(By.CSS_SELECTOR, "#inbox > li.item")]
    assert order[:2] == [f"item-{state['esc']}", f"item-{state['a']}"], order
    wait(driver, lambda d: "overdue by" in d.find_element(By.CSS_SELECTOR, f"#item-{state['esc']} .countdown").text)
    assert driver.execute_script("return window.__sameDocument") is True, "the page reloaded"
    shot(driver, "04-inbox-escalated.png")
    driver.set_window_size(390, 844)
    shot(driver, "05-inbox-phone.png")
    driver.set_window_size(1280, 900)


@step
def approving_with_a_keyboard_shortcut_decides_the_gate():
    driver = state["driver"]
    item = driver.find_element(By.ID, "item-" + state["a"])
    item.find_element(By.CSS_SELECTOR, "button[data-shortcut='1']")  # Approve is choice 1
    status, cp = api("POST", f"/instances/{state['a']}/checkpoints", {"checkpoint_data": {"at": "gate", "cursor": 1}})
    assert status == 201, (status, cp)
    state["cp_gate"] = cp["id"]
    # A value outside the choices (a tampered form): the 422 names the allowed ones, nothing changes.
    driver.execute_script(f"document.querySelector('#item-{state['a']} button[value=rejected]').value = 'maybe'")
    item.find_element(By.CSS_SELECTOR, "button[value='maybe']").click()
    wait(driver, lambda d: "must be one of" in d.find_element(By.CSS_SELECTOR, f"#item-{state['a']} .outcome").text)
    outcome = driver.find_element(By.CSS_SELECTOR, f"#item-{state['a']} .outcome").text
    assert "approved" in outcome and "rejected" in outcome, outcome
    assert api("GET", f"/instances/{state['a']}")[1]["state"] == "waiting"
    wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "button[data-shortcut='1']").is_enabled())
    ActionChains(driver).send_keys("1").perform()
    wait(driver, lambda d: "Decided approved" in d.find_element(By.CSS_SELECTOR, f"#item-{state['a']} .outcome").text)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", driver.find_element(By.ID, "item-" + state["a"]))
    shot(driver, "06-inbox-decided.png")
    wait(driver, EC.invisibility_of_element_located((By.ID, "item-" + state["a"])))
    instance = wait_api(f"/instances/{state['a']}", lambda i: i["decisions"])
    decision = instance["decisions"][0]
    assert decision["value"] == "approved" and decision["decided_by"] == "alice-key", decision
    sign_out(driver)


@step
def a_reviewer_without_javascript_loses_the_race_and_is_told_who_won():
    plain = state["plain"]
    state["b"] = create_instance("exp-b", "team offsite")
    wait_api(f"/instances/{state['b']}", lambda i: i["state"] == "waiting")
    sign_in(plain, args.approver_key)
    wait(plain, EC.url_contains("/console/approvals"))
    button = plain.find_element(By.CSS_SELECTOR, f"#item-{state['b']} button[value='rejected']")
    status, body = api("POST", f"/instances/{state['b']}/signals",
                       {"signal_type": "human_input:manager-review", "payload": {"decision": "approved"}})
    assert status == 200, (status, body)
    button.click()  # the page has no script: a plain form post
    error = wait(plain, EC.visibility_of_element_located((By.ID, "decision-error")))
    assert error.text.startswith("Already approved by ops-admin") and "s ago" in error.text, error.text
    shot(plain, "07-inbox-lost-race-no-js.png")


@step
def an_operator_watches_the_instance_continue_live():
    driver = state["driver"]
    state["d"] = create_instance("exp-d", "conference tickets")
    wait_api(f"/instances/{state['d']}", lambda i: i["state"] == "waiting")
    sign_in(driver, args.admin_key)
    wait(driver, EC.url_contains("/console/instances"))
    driver.get(BASE + "/console/instances?state=waiting")
    assert driver.find_element(By.LINK_TEXT, state["d"])
    shot(driver, "08-instances.png")
    # The instance page through a proxy whose connections the test can cut (cookies ignore the port).
    proxy = state["proxy"] = DroppableProxy(("127.0.0.1", int(BASE.rsplit(":", 1)[1])))
    driver.get(f"{proxy.base}/console/instances/{state['d']}")
    wait(driver, lambda d: d.find_element(By.ID, "stream-status").text == "live")
    status, cp = api("POST", f"/instances/{state['d']}/checkpoints", {"checkpoint_data": {"at": "gate"}})
    assert status == 201
    state["cp_d_gate"] = cp["id"]
    # The network drops; the decision happens meanwhile; the stream resumes after the last event
    # the page saw (the browser's Last-Event-ID) and shows it once.
    proxy.drop()
    wait(driver, lambda d: d.find_element(By.ID, "stream-status").text == "reconnecting…", timeout=10)
    status, body = api("POST", f"/instances/{state['d']}/signals",
                       {"signal_type": "human_input:manager-review", "payload": {"decision": "approved"}}, key=args.approver_key)
    assert status == 200, (status, body)
    # The decision, the sleep step and the last step arrive on the page as they happen.
    wait(driver, lambda d: "output of manager-review" in d.find_element(By.ID, "timeline").text, timeout=20)
    wait(driver, lambda d: d.find_element(By.ID, "state").text == "completed", timeout=20)
    assert driver.find_element(By.ID, "timeline").get_attribute("data-duplicates") is None, "the stream sent an event twice"
    ids = [li.get_attribute("data-id") for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert len(ids) == len(set(ids)), f"an event was shown twice: {ids}"
    assert sum("output of manager-review" in li.text for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li")) == 1
    live = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#timeline li.live")]
    assert any("output of settle" in text for text in live) and any("state completed" in text for text in live), live
    # The buttons follow the state: nothing to pause or cancel on a completed instance.
    assert not driver.find_element(By.CSS_SELECTOR, "form[data-signal='cancel']").is_displayed()
    assert not driver.find_element(By.CSS_SELECTOR, "form[data-signal='pause']").is_displayed()
    shot(driver, "09-instance-live.png")
    driver.get(f"{BASE}/console/instances/{state['d']}")
    proxy.close()
    decisions = driver.find_element(By.CSS_SELECTOR, "table.decisions").text
    assert "approved" in decisions and "alice-key" in decisions, decisions
    status, cp = api("POST", f"/instances/{state['d']}/checkpoints", {"checkpoint_data": {"at": "end"}})
    assert status == 201
    state["cp_d_end"] = cp["id"]


@step
def checkpoints_show_their_difference_and_restore_to_here():
    driver = state["driver"]
    instance = state["d"]
    driver.get(f"{BASE}/console/instances/{instance}/checkpoints")
    diff = driver.find_element(By.ID, "diff").text
    assert "decision" in diff and "added" in diff and "paid" in diff, diff
    shot(driver, "10-checkpoints-diff.png")
    driver.find_element(By.CSS_SELECTOR, f"#cp-{state['cp_d_gate']} form.restore button").click()
    alert = wait(driver, EC.alert_is_present())
    assert "Restore" in alert.text
    alert.accept()
    wait(driver, lambda d: "Restored from the checkpoint" in d.find_element(By.ID, "notice").text)
    # Back at the gate: waiting again, its item in the queue again.
    wait_api(f"/instances/{instance}", lambda i: i["state"] == "waiting" and i["current_block"] == "manager-review")
    wait(driver, lambda d: "output of _restore" in d.find_element(By.ID, "timeline").text)
    wait(driver, lambda d: d.find_element(By.ID, "state").text == "waiting")
    shot(driver, "11-instance-restored.png")
    queue = api("GET", "/approvals?tenant_id=acme")[1]
    assert any(item["instance_id"] == instance for item in queue["items"]), queue


def main():
    os.makedirs(args.shots, exist_ok=True)
    started = time.time()
    state["driver"] = browser()
    state["plain"] = browser(javascript=False)
    passed = failed = 0
    try:
        for function in steps:
            print(f"- {function.__name__}")
            try:
                function()
                passed += 1
            except Exception:
                failed += 1
                traceback.print_exc()
                for name in ("driver", "plain"):
                    try:
                        shot(state[name], f"failed-{function.__name__}-{name}.png")
                    except Exception:
                        pass
                break  # the steps are one story: later ones depend on earlier ones
    finally:
        for name in ("driver", "plain"):
            state[name].quit()
    skipped = len(steps) - passed - failed
    print(f"browser: {time.time() - started:.1f} s")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 0 if failed == 0 and skipped == 0 else 1


sys.exit(main())
