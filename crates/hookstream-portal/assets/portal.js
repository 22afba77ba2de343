// The portal's one script: while a replay runs, its progress on the webhook's page is
// refreshed once a second from /portal/webhooks/ID/replay.json. Without this script the
// page shows the progress as it was when loaded.
"use strict";

(function () {
  const box = document.querySelector("[data-replay-url]");
  if (!box || box.dataset.state !== "running") {
    return;
  }
  const bar = box.querySelector("progress");
  const text = box.querySelector(".replay-text");
  const announce = box.querySelector(".replay-announce");
  let failures = 0;

  async function poll() {
    try {
      const response = await fetch(box.dataset.replayUrl, {
        credentials: "same-origin",
        headers: { accept: "application/json" },
      });
      if (response.ok) {
        const status = await response.json();
        bar.max = Math.max(status.records, 1);
        bar.value = status.state === "running" ? Math.min(status.read, bar.max) : bar.max;
        bar.textContent = status.read + " of " + status.records;
        text.textContent = status.text;
        box.dataset.state = status.state;
        failures = 0;
        if (status.state !== "running") {
          announce.textContent = status.text;
          return;
        }
      } else {
        failures += 1;
      }
    } catch (_) {
      failures += 1;
    }
    // Give up after a minute of failures; a reload starts again.
    if (failures < 60) {
      window.setTimeout(poll, 1000);
    }
  }

  window.setTimeout(poll, 1000);
})();
