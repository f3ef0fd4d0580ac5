// Deleting the current conversation (DELETE /v1/conversations/{id}) behind a confirmation; the
// receipt says what was shredded, and the page goes on in a fresh conversation.

import { api } from "../api.js";
import { h, $, formatMs } from "./dom.js";

const RECEIPT_MS = 8000;

export class ConversationDeleter {
  /** `current()` is the conversation's id (or null); `onDeleted(receipt)` starts a fresh one. */
  constructor({ current, onDeleted }) {
    this.current = current;
    this.onDeleted = onDeleted;
    this.dialog = $("delete-dialog");
    this.ask = $("delete-ask");
    this.receipt = $("delete-receipt");
    this.error = $("delete-error");
    this.submit = $("delete-submit");
    this.cancel = $("delete-cancel");
    this.closeTimer = null;
    $("delete-conversation").addEventListener("click", () => this.open());
    this.cancel.addEventListener("click", () => this.dialog.close());
    this.submit.addEventListener("click", () => this.delete());
  }

  open() {
    clearTimeout(this.closeTimer);
    const id = this.current();
    this.ask.hidden = false;
    this.receipt.hidden = true;
    this.error.hidden = Boolean(id);
    this.error.textContent = id ? "" : "There is no conversation to delete yet.";
    this.submit.hidden = false;
    this.submit.disabled = !id;
    this.cancel.textContent = "Cancel";
    this.dialog.showModal();
  }

  async delete() {
    const id = this.current();
    this.submit.disabled = true;
    this.error.hidden = true;
    try {
      const result = await api.deleteConversation(id);
      this.showReceipt(result);
      this.onDeleted(result);
    } catch (err) {
      this.error.textContent = err.action ? `${err.message}. ${err.action}` : err.message;
      this.error.hidden = false;
      this.submit.disabled = false;
    }
  }

  showReceipt(result) {
    this.ask.hidden = true;
    this.submit.hidden = true;
    this.cancel.textContent = "Close";
    this.receipt.replaceChildren(
      h("p", { class: "receipt-title" }, "The conversation was deleted."),
      h(
        "dl",
        {},
        h("dt", {}, "Events shredded"),
        h("dd", { dataset: { field: "events_shredded" } }, String(result.events_shredded)),
        h("dt", {}, "Its key"),
        h(
          "dd",
          { dataset: { field: "key_destroyed" } },
          result.key_destroyed ? "destroyed" : "none of its own (forget me shreds it)",
        ),
        h("dt", {}, "Took"),
        h("dd", {}, formatMs(result.duration_ms)),
      ),
    );
    this.receipt.hidden = false;
    this.closeTimer = setTimeout(() => this.dialog.close(), RECEIPT_MS);
  }
}
