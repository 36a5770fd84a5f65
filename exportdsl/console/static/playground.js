// The playground: the connector is sent to the console as it is typed (after a pause), and what
// comes back is drawn: each diagnostic underlined at its line and column in a layer behind the
// text, listed with its message, the requests and the XML template as rendered. A chat file is
// read here (FileReader) into the chat field; the PDF is asked for on a button and downloaded.
// Every text goes in as text (textContent, text nodes): nothing the server returns is parsed as
// HTML.
"use strict";
(function () {
  const root = document.getElementById("playground");
  if (!root) {
    return;
  }
  const source = document.getElementById("source");
  const chat = document.getElementById("chat");
  const overlay = document.getElementById("overlay");
  const list = document.getElementById("diagnostics");
  const state = document.getElementById("check-state");
  const requests = document.getElementById("requests");
  const problem = document.getElementById("render-problem");
  const xml = document.getElementById("xml");
  const chatFile = document.getElementById("chat-file");
  const chatFileState = document.getElementById("chat-file-state");
  const pdfButton = document.getElementById("pdf");
  const pdfLink = document.getElementById("pdf-link");
  const pdfState = document.getElementById("pdf-state");
  let timer = 0;
  let asked = 0;

  function lineStarts(text) {
    const starts = [0];
    for (let i = 0; i < text.length; i += 1) {
      if (text[i] === "\n") {
        starts.push(i + 1);
      }
    }
    return starts;
  }

  // The index (UTF-16 units, as JavaScript's strings count) ``points`` code points after ``from``:
  // the server counts columns in code points (as `exportdsl check` does), and an emoji is one
  // code point but two UTF-16 units.
  function advance(text, from, points) {
    let at = from;
    for (let n = 0; n < points && at < text.length; n += 1) {
      const unit = text.charCodeAt(at);
      const next = at + 1 < text.length ? text.charCodeAt(at + 1) : 0;
      const pair = unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
      at += pair ? 2 : 1;
    }
    return at;
  }

  // Lines and columns are 1-based, the end column inclusive (as `exportdsl check --format json`),
  // columns in code points.
  function span(starts, text, found) {
    const line = Math.min(found.line, starts.length) - 1;
    const endLine = Math.min(found.end_line, starts.length) - 1;
    const start = Math.min(advance(text, starts[line], found.column - 1), text.length);
    let end = Math.min(advance(text, starts[endLine], found.end_column), text.length);
    if (end <= start) {
      end = Math.min(start + 1, text.length);
    }
    return [start, end];
  }

  function underline(text, found) {
    const starts = lineStarts(text);
    const marks = found
      .map((each) => [...span(starts, text, each), each])
      .sort((a, b) => a[0] - b[0]);
    overlay.replaceChildren();
    let at = 0;
    for (const [start, end, each] of marks) {
      if (start < at) {
        continue; // overlapping: the first one is drawn
      }
      overlay.append(document.createTextNode(text.slice(at, start)));
      const mark = document.createElement("mark");
      mark.className = "diagnostic " + each.severity;
      mark.dataset.code = each.code;
      mark.dataset.line = String(each.line);
      mark.textContent = text.slice(start, end) || " ";
      overlay.append(mark);
      at = end;
    }
    overlay.append(document.createTextNode(text.slice(at) + "\n"));
    overlay.scrollTop = source.scrollTop;
    overlay.scrollLeft = source.scrollLeft;
  }

  function show(answer) {
    list.replaceChildren();
    for (const each of answer.diagnostics) {
      const item = document.createElement("li");
      item.className = "diagnostic " + each.severity;
      item.dataset.code = each.code;
      item.dataset.line = String(each.line);
      item.dataset.column = String(each.column);
      item.textContent = `${each.line}:${each.column}: ${each.severity}: ${each.message} [${each.code}]`;
      if (each.hint) {
        const hint = document.createElement("div");
        hint.className = "hint";
        hint.textContent = "hint: " + each.hint;
        item.append(hint);
      }
      list.append(item);
    }
    state.textContent = answer.diagnostics.length ? answer.diagnostics.length + " found" : "clean";
    state.className = "state " + (answer.diagnostics.some((d) => d.severity === "error") ? "dead" : "delivered");
    underline(source.value, answer.diagnostics);
    problem.textContent = answer.problem || "";
    requests.textContent = answer.requests.join("\n\n");
    if (answer.xml !== null && answer.xml !== undefined) {
      xml.textContent = answer.xml;
    } else {
      xml.textContent = answer.problem ? "" : "(no xml_template in this connector)";
    }
  }

  function askedFor() {
    return {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify({ source: source.value, chat: chat.value }),
    };
  }

  async function check() {
    const number = ++asked;
    state.textContent = "checking";
    try {
      const answer = await fetch(root.dataset.check, askedFor());
      if (answer.status === 401) {
        window.location.assign(root.dataset.login);
        return;
      }
      const shown = await answer.json();
      if (number !== asked) {
        return; // a later check is under way: its answer is the one to show
      }
      if (!answer.ok) {
        state.textContent = shown.error || "failed";
        return;
      }
      show(shown);
    } catch (error) {
      state.textContent = "the console is out of reach";
    }
  }

  // The PDF of the chat with the connector's transcript settings: fetched, then downloaded from
  // a link to it (kept on the page, to download again).
  let pdfUrl = "";
  async function transcript() {
    pdfState.textContent = "rendering";
    pdfButton.disabled = true;
    try {
      const answer = await fetch(root.dataset.transcript, askedFor());
      if (answer.status === 401) {
        window.location.assign(root.dataset.login);
        return;
      }
      if (!answer.ok) {
        const shown = await answer.json().catch(() => ({}));
        pdfState.textContent = shown.error || "failed";
        return;
      }
      const pdf = await answer.blob();
      if (pdfUrl) {
        URL.revokeObjectURL(pdfUrl);
      }
      pdfUrl = URL.createObjectURL(pdf);
      pdfLink.href = pdfUrl;
      pdfLink.textContent = `playground.pdf (${Math.ceil(pdf.size / 1024)} KiB)`;
      pdfLink.hidden = false;
      pdfState.textContent = "";
      pdfLink.click();
    } catch (error) {
      pdfState.textContent = "the console is out of reach";
    } finally {
      pdfButton.disabled = false;
    }
  }

  // A chat file, read here into the chat field (as if pasted); one over the limit is not read.
  function upload() {
    const file = chatFile.files[0];
    if (!file) {
      return;
    }
    const limit = Number(root.dataset.maxChat);
    if (file.size > limit) {
      chatFileState.textContent = `${file.name} is ${file.size} bytes: at most ${limit} bytes`;
      return;
    }
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      chat.value = String(reader.result);
      chatFileState.textContent = `${file.name}: ${file.size} bytes read`;
      later();
    });
    reader.addEventListener("error", () => {
      chatFileState.textContent = `${file.name} could not be read`;
    });
    reader.readAsText(file, "utf-8");
  }

  function later() {
    window.clearTimeout(timer);
    underline(source.value, []); // the old marks no longer fit the text
    timer = window.setTimeout(check, 300);
  }

  source.addEventListener("input", later);
  chat.addEventListener("input", later);
  chatFile.addEventListener("change", upload);
  pdfButton.addEventListener("click", transcript);
  source.addEventListener("scroll", () => {
    overlay.scrollTop = source.scrollTop;
    overlay.scrollLeft = source.scrollLeft;
  });
  check();
})();
