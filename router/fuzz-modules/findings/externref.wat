;; Refused with `module_rejected` although WebAssembly 2.0 (see README.md).
(module
  (memory (export "memory") 1)
  (table 1 externref)
  (func (export "ants_evaluate") (result i32)
    (i32.const 0)))
