/** Small DOM helpers shared by the dashboard's panels. */

export function $ (selector: string): HTMLElement {
  const el = document.querySelector(selector)
  if (el == null) throw new Error(`the page has no ${selector}`)
  return el as HTMLElement
}

/** a short form of a peer id for tables and labels: `12D3Ko…x7Fq9a` */
export function short (id: string): string {
  return id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id
}

export function el<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v
    else node.setAttribute(k, v)
  }
  node.append(...children)
  return node
}

export function cell (text: string, cls = '', title = ''): HTMLTableCellElement {
  const td = el('td', cls !== '' ? { class: cls } : {}, text)
  if (title !== '') td.title = title
  return td
}

/** replaces a select's options, keeping the chosen value when it is still offered */
export function setOptions (select: HTMLSelectElement, options: Array<{ value: string, label: string }>): void {
  const current = select.value
  const same = select.options.length === options.length && options.every((o, i) => select.options[i].value === o.value && select.options[i].text === o.label)
  if (same) return
  select.replaceChildren(...options.map(o => el('option', { value: o.value }, o.label)))
  if (options.some(o => o.value === current)) select.value = current
}

/** runs an action from a button: disables it meanwhile and writes the outcome (or error) to `out` */
export function bindAction (button: HTMLButtonElement, out: HTMLElement, action: () => Promise<string>): void {
  button.addEventListener('click', () => {
    button.disabled = true
    out.className = 'out muted'
    out.textContent = '…'
    action()
      .then(text => { out.className = 'out ok'; out.textContent = text })
      .catch((err: unknown) => {
        out.className = 'out err'
        out.textContent = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      })
      .finally(() => { button.disabled = false })
  })
}

export function formatMs (ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
  return `${(ms / 1000).toFixed(2)} s`
}
