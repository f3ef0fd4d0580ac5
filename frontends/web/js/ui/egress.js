// The egress ledger behind the internet indicator: GET /v1/egress, every request that left this
// computer (newest first), each recorded before it was sent.

import { api } from "../api.js";
import { h, $, formatTime } from "./dom.js";

export class EgressPanel {
  constructor() {
    this.dialog = $("egress-dialog");
    this.list = $("egress-list");
    this.empty = $("egress-empty");
    for (const id of ["egress-open", "egress-open-top"])
      $(id).addEventListener("click", () => this.open());
  }

  async open() {
    this.list.replaceChildren();
    this.empty.hidden = true;
    this.dialog.showModal();
    try {
      this.render(await api.egress());
    } catch (err) {
      this.empty.textContent = err.action ? `${err.message}. ${err.action}` : err.message;
      this.empty.hidden = false;
    }
  }

  render(entries) {
    this.empty.textContent = "Nothing has left this computer.";
    this.empty.hidden = entries.length > 0;
    this.list.replaceChildren(
      ...entries.map((e) =>
        h(
          "tr",
          { class: "egress-entry", dataset: { egressId: e.id } },
          h("td", {}, h("time", { datetime: e.at, title: e.at }, formatTime(e.at))),
          h("td", {}, e.kind),
          h("td", { class: "mono egress-host" }, e.host),
          h("td", { class: "egress-query" }, e.query),
        ),
      ),
    );
  }
}
