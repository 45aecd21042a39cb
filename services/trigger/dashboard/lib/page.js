// The rendered page's life: `newPage()` starts one and ends the previous one's polling.

import { ApiError } from "./api.js";

let generation = 0;

// One per rendered page: `alive` turns false when the user navigates away, ending its polling.
export function newPage() {
  const gen = ++generation;
  const page = {
    get alive() {
      return gen === generation;
    },
    // Wait `ms`, call fn, repeat until the page is left or fn returns false.
    async every(ms, fn) {
      while (page.alive) {
        await new Promise((resolve) => setTimeout(resolve, ms));
        if (!page.alive) return;
        try {
          if ((await fn()) === false) return;
        } catch (err) {
          if (!(err instanceof ApiError)) continue; // network trouble: shown in the top bar
          console.warn("refresh failed", err);
        }
      }
    },
  };
  return page;
}
