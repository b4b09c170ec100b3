// The legend's feature toggles: which factors and sub-features are drawn.
//
// The list comes from GET /api/factor/catalog (CONTRACT §4.9) when the server has it; without
// one (an older server answers 404) the page falls back to the features it has seen in draw
// state, labelled from the known set. Choices are remembered in localStorage.

const STORAGE_KEY = "canvas.features.v1";

// The catalog Canvas serves (ZHONGSHU-ANCHOR.md §4), used for labels and defaults when the
// server does not list it; a swatch colour per feature for the legend.
const KNOWN = [
  { key: "pivot", label: "Pivot", subs: [["pivot.major", "Major", true, "#ef4444"], ["pivot.minor", "Minor", false, "rgba(239,68,68,0.6)"]] },
  { key: "pen", label: "Pen", subs: [["pen.confirmed", "Confirmed", true, "#ffffff"], ["pen.extending", "Extending", true, "#c7c9d1"], ["pen.candidate", "Candidate", true, "#8a8e99"]] },
  { key: "zhongshu", label: "Zhongshu", subs: [["zhongshu.alive", "Alive", true, "rgba(22,163,74,0.9)"], ["zhongshu.dead", "Dead", true, "rgba(74,222,128,0.6)"]] },
  { key: "anchor", label: "Anchor", subs: [["anchor.current", "Current", true, "#f59e0b"], ["anchor.history", "History", true, "rgba(59,130,246,0.8)"], ["anchor.switch", "Switches", true, "#f59e0b"]] },
];
const SWATCH = new Map(KNOWN.flatMap((f) => f.subs.map((s) => [s[0], s[3]])));

function loadFlags() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

export class Features {
  constructor(api, container, onChange) {
    this.api = api;
    this.container = container;
    this.onChange = onChange;
    this.flags = loadFlags();
    this.catalog = null; // [{key,label,default_visible,sub_features:[...]}] or null
    this.seen = new Set();
    this.counts = {};
    this.defaults = new Map();
    this.parent = new Map();
    for (const f of KNOWN) {
      this.defaults.set(f.key, true);
      for (const [key, , def] of f.subs) {
        this.defaults.set(key, def);
        this.parent.set(key, f.key);
      }
    }
  }

  /** Read the server's catalog once; any error (404 on servers without one) means none. */
  async load() {
    try {
      const reply = await this.api.get("/api/factor/catalog");
      const factors = (reply && reply.factors) || [];
      this.catalog = factors.filter((f) => f && f.key);
      for (const f of this.catalog) {
        this.defaults.set(f.key, f.default_visible !== false);
        for (const sub of f.sub_features || []) {
          if (!sub || !sub.key) continue;
          this.defaults.set(sub.key, sub.default_visible !== false);
          this.parent.set(sub.key, f.key);
        }
      }
      if (!this.catalog.length) this.catalog = null;
    } catch {
      this.catalog = null;
    }
    this.render();
  }

  /** Is this feature drawn: its own flag and its factor's flag. */
  visible(feature) {
    const parent = this.parent.get(feature) || feature.split(".")[0];
    return this.flag(feature) && this.flag(parent);
  }

  flag(key) {
    if (key in this.flags) return Boolean(this.flags[key]);
    return this.defaults.has(key) ? this.defaults.get(key) : true;
  }

  toggle(key) {
    this.flags[key] = !this.flag(key);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.flags));
    } catch {
      // Private mode: the choice lasts for this page only.
    }
    this.render();
    this.onChange();
  }

  /** Note the features present in draw state with their instruction counts. */
  observe(counts) {
    let changed = false;
    for (const f of Object.keys(counts)) {
      if (!this.seen.has(f)) {
        this.seen.add(f);
        changed = true;
      }
    }
    const keys = new Set([...Object.keys(counts), ...Object.keys(this.counts)]);
    for (const k of keys) if (counts[k] !== this.counts[k]) changed = true;
    this.counts = counts;
    if (changed) this.render();
  }

  /** Factor groups to show: the catalog's, else the known groups and any others seen. */
  groups() {
    if (this.catalog) {
      return this.catalog.map((f) => ({
        key: f.key,
        label: f.label || f.key,
        subs: (f.sub_features || []).filter((s) => s && s.key).map((s) => [s.key, s.label || s.key]),
      }));
    }
    const groups = [];
    const listed = new Set();
    for (const f of KNOWN) {
      const subs = f.subs.filter((s) => this.seen.has(s[0]));
      subs.forEach((s) => listed.add(s[0]));
      if (subs.length) groups.push({ key: f.key, label: f.label, subs });
    }
    const others = new Map();
    for (const feature of this.seen) {
      if (listed.has(feature)) continue;
      const key = feature.split(".")[0];
      if (!others.has(key)) others.set(key, []);
      others.get(key).push([feature, feature.split(".").slice(1).join(".") || feature]);
    }
    for (const [key, subs] of others) groups.push({ key, label: key, subs });
    return groups;
  }

  render() {
    const rows = this.groups().map((group) => {
      const row = document.createElement("div");
      row.className = "feature-row";
      const head = document.createElement("span");
      head.className = "feature-group" + (this.flag(group.key) ? "" : " feature-off");
      head.textContent = group.label;
      head.title = `Show or hide every ${group.label} drawing`;
      head.dataset.feature = group.key;
      head.addEventListener("click", () => this.toggle(group.key));
      row.append(head);
      for (const [key, label] of group.subs) {
        const chip = document.createElement("span");
        chip.className = "feature-chip" + (this.visible(key) ? "" : " feature-off");
        chip.dataset.feature = key;
        chip.title = key;
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = SWATCH.get(key) || "#b2b5be";
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = String(this.counts[key] || 0);
        chip.append(swatch, document.createTextNode(label), count);
        chip.addEventListener("click", () => this.toggle(key));
        row.append(chip);
      }
      return row;
    });
    this.container.replaceChildren(...rows);
  }
}
