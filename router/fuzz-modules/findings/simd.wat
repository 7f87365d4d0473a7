;; Refused with `module_rejected` although section 1 says SIMD is accepted (see README.md).
(module
  (memory (export "memory") 1)
  (func (export "ants_evaluate") (result i32)
    (drop (v128.const i64x2 0 0))
    (i32.const 0)))
