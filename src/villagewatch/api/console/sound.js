// A short alarm for red alerts that arrive live, made with WebAudio (no sound file).
// Browsers only let a page make sound after a user gesture: the first click or key unlocks it.

const KEY = 'villagewatch.sound';
let ctx = null;
let rung = 0;

/** Whether the alarm is on (remembered in localStorage; on unless muted). */
export function soundOn() {
  return localStorage.getItem(KEY) !== 'off';
}

/** Turn the alarm on or off. */
export function setSound(on) {
  localStorage.setItem(KEY, on ? 'on' : 'off');
}

function unlock() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  if (!ctx) ctx = new Ctx();
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
}

/** Unlock audio on the first user gesture (clicks and keys keep it unlocked after). */
export function armAudio() {
  for (const type of ['pointerdown', 'keydown']) {
    document.addEventListener(type, unlock, { capture: true, passive: true });
  }
}

/** Three falling two-tone beeps, about a second; does nothing when muted or still locked. */
export function ring() {
  if (!soundOn() || !ctx || ctx.state !== 'running') return false;
  const start = ctx.currentTime + 0.02;
  for (let i = 0; i < 3; i += 1) {
    for (const [offset, freq] of [[0, 988], [0.16, 740]]) {
      const t0 = start + i * 0.4 + offset;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(0.15, t0 + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.15);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0);
      osc.stop(t0 + 0.16);
    }
  }
  rung += 1;
  return true;
}

/** How many alarms rang since the page opened. */
export function rings() {
  return rung;
}
