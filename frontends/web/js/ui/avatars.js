// The avatar picker: GET /v1/avatars, shown as "name · voice". Choosing one starts a new
// conversation with that avatar (hello.avatar_id).

import { api } from "../api.js";
import { h, $ } from "./dom.js";

export class AvatarPicker {
  constructor({ onChange }) {
    this.select = $("avatar-select");
    this.avatars = [];
    this.current = null;
    this.select.addEventListener("change", () => {
      const avatar = this.avatars.find((a) => a.id === this.select.value);
      if (avatar && avatar.id !== this.current) onChange(avatar);
    });
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
  }
}
