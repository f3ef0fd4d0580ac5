// The avatar picker and editor: GET /v1/avatars, shown as "name · voice". Choosing one starts a
// new conversation with that avatar (hello.avatar_id); "New avatar" and "Edit" open a form that
// POSTs or PATCHes /v1/avatars (name, persona, style, voice).

import { api } from "../api.js";
import { h, $ } from "./dom.js";
import { toast } from "./status.js";

const FIELDS = ["name", "persona", "style", "voice"];

export class AvatarPicker {
  constructor({ onChange, onEdited }) {
    this.onChange = onChange;
    this.onEdited = onEdited;
    this.select = $("avatar-select");
    this.avatars = [];
    this.current = null;
    this.editing = null; // the avatar being edited, null when creating one
    this.select.addEventListener("change", () => {
      const avatar = this.avatars.find((a) => a.id === this.select.value);
      if (avatar && avatar.id !== this.current) onChange(avatar);
    });
    this.setupEditor();
  }

  async load() {
    try {
      const avatars = await api.avatars();
      this.avatars = Array.isArray(avatars) ? avatars : [];
    } catch {
      this.avatars = [];
    }
    this.render();
  }

  /** The session's avatar as `ready` reports it ({id, name, voice}). */
  setCurrent(avatar) {
    if (!avatar) return;
    this.current = avatar.id;
    if (!this.avatars.some((a) => a.id === avatar.id)) this.avatars.unshift({ ...avatar });
    this.render();
  }

  render() {
    this.select.replaceChildren(
      ...this.avatars.map((a) => h("option", { value: a.id }, `${a.name} · ${a.voice}`)),
    );
    if (this.current) this.select.value = this.current;
    this.select.disabled = this.avatars.length === 0;
    $("avatar-voices").replaceChildren(
      ...[...new Set(this.avatars.map((a) => a.voice).filter(Boolean))].map((v) =>
        h("option", { value: v }),
      ),
    );
  }

  setupEditor() {
    const dialog = $("avatar-dialog");
    const error = $("avatar-error");
    const input = (field) => $(`avatar-${field}`);
    const open = (avatar) => {
      this.editing = avatar;
      $("avatar-dialog-title").textContent = avatar ? `Edit ${avatar.name}` : "New avatar";
      for (const field of FIELDS) input(field).value = avatar ? avatar[field] || "" : "";
      if (!avatar) input("voice").value = (this.avatars[0] && this.avatars[0].voice) || "";
      error.hidden = true;
      dialog.showModal();
      input("name").focus();
    };
    $("avatar-new").addEventListener("click", () => open(null));
    $("avatar-edit").addEventListener("click", async () => {
      await this.load(); // the full avatar (persona, style), as stored now
      const avatar = this.avatars.find((a) => a.id === this.current);
      if (avatar) open(avatar);
    });
    $("avatar-cancel").addEventListener("click", () => dialog.close());
    $("avatar-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(FIELDS.map((f) => [f, input(f).value.trim()]));
      if (!values.name) {
        error.textContent = "An avatar needs a name.";
        error.hidden = false;
        return;
      }
      if (!values.voice) delete values.voice;
      $("avatar-save").disabled = true;
      try {
        const editing = this.editing;
        const saved = editing
          ? await api.updateAvatar(editing.id, values)
          : await api.createAvatar(values);
        dialog.close();
        await this.load();
        toast(editing ? `Saved ${saved.name}` : `Created ${saved.name}`);
        if (editing) this.onEdited(saved);
        else this.onChange(saved); // talk to the new avatar
      } catch (err) {
        error.textContent = err.action ? `${err.message}. ${err.action}` : err.message;
        error.hidden = false;
      } finally {
        $("avatar-save").disabled = false;
      }
    });
  }
}
