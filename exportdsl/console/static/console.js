// The deliveries page's live update: its listing is fetched again every two seconds (with the
// page's own filters and page) and swapped in, without a reload. The server renders and escapes
// every row; nothing here builds HTML from data. No session any more: to the login page.
"use strict";
(function () {
  const listing = document.getElementById("listing");
  if (!listing || !listing.dataset.src) {
    return;
  }
  let busy = false;
  async function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    try {
      const answer = await fetch(listing.dataset.src, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (answer.status === 401) {
        window.location.assign(listing.dataset.login);
        return;
      }
      if (answer.ok) {
        const page = new DOMParser().parseFromString(await answer.text(), "text/html");
        const fresh = page.getElementById("listing");
        if (fresh) {
          listing.replaceChildren(...fresh.childNodes);
          listing.dataset.updated = String(Date.now());
        }
      }
    } catch (error) {
      // the server is restarting or out of reach: the next tick tries again
    } finally {
      busy = false;
    }
  }
  window.setInterval(refresh, 2000);
})();
