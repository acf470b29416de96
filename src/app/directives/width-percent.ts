/**
 * `<span ${widthPercent(40)}>`: sets an element's width through the CSSOM. A `style` attribute (and
 * Lit's styleMap, whose first render writes one) is inline style, which the app's CSP refuses.
 */
import { noChange } from 'lit';
import { Directive, directive, type ElementPart, type PartInfo, PartType } from 'lit/directive.js';

class WidthPercent extends Directive {
  constructor(part: PartInfo) {
    super(part);
    if (part.type !== PartType.ELEMENT)
      throw new Error('widthPercent() goes on an element, not in an attribute.');
  }

  render(_percent: number) {
    return noChange;
  }

  override update(part: ElementPart, [percent]: [number]) {
    (part.element as HTMLElement).style.width = `${percent}%`;
    return noChange;
  }
}

export const widthPercent = directive(WidthPercent);
