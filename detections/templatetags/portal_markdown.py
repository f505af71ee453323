from django import template

from detections.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """Render untrusted markdown as sanitized HTML."""
    return render_markdown(text)
