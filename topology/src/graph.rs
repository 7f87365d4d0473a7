//! Drawing a topology: Graphviz dot, SVG and Mermaid.
